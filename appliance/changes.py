"""Change notifications that work the same in one process or many.

A service that changes shared state (the admin API adding a closed day, a
directory sync) records a topic in the ``change_log`` table inside the same
write transaction (:meth:`appliance.state.db.Transaction.notify`). Every
process runs one :class:`ChangeFeed` watcher that reads new rows and calls
the subscribers of that topic. Because delivery always goes through the
database, ``preau run`` (all services in one process) and one process per
systemd unit use the same code path; a local commit only wakes the watcher
early (the state DB calls :meth:`ChangeFeed.poke` after it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from appliance.i18n import N_
from appliance.service import Health
from appliance.state.db import StateDB

_LOGGER = logging.getLogger(__name__)

ChangeHandler = Callable[[str], Awaitable[None]]

DEFAULT_POLL_SECONDS: Final = 0.25
# After a failed read the watcher waits longer each time, up to this.
MAX_BACKOFF_SECONDS: Final = 30.0
_KEEP_SECONDS: Final = 86_400.0


class ChangeFeed:
    """Deliver topics recorded in the state DB to this process's subscribers."""

    def __init__(self, db: StateDB, poll_seconds: float = DEFAULT_POLL_SECONDS) -> None:
        """Prepare a feed; :meth:`start` begins watching."""
        self._db = db
        self._poll_seconds = poll_seconds
        self._handlers: dict[str, list[ChangeHandler]] = {}
        self._wake = asyncio.Event()
        self._last_seq = 0
        self._task: asyncio.Task[None] | None = None
        # Consecutive failed reads and the last one's reason (shown in health).
        self.failures = 0
        self.last_error = ""

    def subscribe(self, topic: str, handler: ChangeHandler) -> None:
        """Call ``handler(topic)`` whenever ``topic`` changes."""
        self._handlers.setdefault(topic, []).append(handler)

    def poke(self) -> None:
        """Wake the watcher now (after a local write)."""
        self._wake.set()

    async def start(self) -> None:
        """Start watching from the newest recorded change."""
        row = await self._db.fetchone("SELECT COALESCE(MAX(seq), 0) FROM change_log")
        self._last_seq = int(row[0]) if row else 0
        self._task = asyncio.create_task(self._watch(), name="preau-change-feed")

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def deliver_pending(self) -> int:
        """Deliver every change recorded since the last call; return how many."""
        rows = await self._db.fetchall(
            "SELECT seq, topic FROM change_log WHERE seq > ? ORDER BY seq", (self._last_seq,)
        )
        for row in rows:
            self._last_seq = int(row["seq"])
            for handler in self._handlers.get(str(row["topic"]), []):
                try:
                    await handler(str(row["topic"]))
                except Exception:
                    _LOGGER.exception("Change handler for %s failed", row["topic"])
        return len(rows)

    def problem(self) -> Health | None:
        """Return why changes are not being delivered, or None when they are."""
        if self._task is not None and self._task.done():
            return Health("degraded", N_("le flux de changements s'est arrêté"))
        if self.failures:
            return Health(
                "degraded",
                N_("flux de changements en échec (%(failures)s×) : %(error)s"),
                {"failures": self.failures, "error": self.last_error},
            )
        return None

    async def _watch(self) -> None:
        """Deliver changes until stopped; a failed read is logged, retried and reported.

        One database error (a locked file, a full disk) must not end every
        cross-process update (overrides, kicks, list swaps) for the life of
        the process: the loop survives it, backs off, and :meth:`problem`
        tells the health report until a read succeeds again.
        """
        while True:
            delay = self._poll_seconds
            try:
                await self.deliver_pending()
            except Exception as err:
                self.failures += 1
                self.last_error = f"{type(err).__name__}: {err}"
                delay = min(MAX_BACKOFF_SECONDS, self._poll_seconds * 2**self.failures)
                _LOGGER.exception("Cannot read the change log (attempt %d)", self.failures)
            else:
                if self.failures:
                    _LOGGER.info("Change log readable again after %d failures", self.failures)
                self.failures = 0
                self.last_error = ""
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    @staticmethod
    async def prune(db: StateDB) -> int:
        """Forget changes older than a day (every watcher has long seen them)."""
        async with db.write() as tx:
            return await tx.execute(
                "DELETE FROM change_log WHERE at < ?", (time.time() - _KEEP_SECONDS,)
            )

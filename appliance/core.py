"""The core object: the one place resources are opened, wired and closed.

:class:`Core` owns the bounded executor, the state DB, the change feed, the
audit log and the directory facade, and runs a set of services. Nothing in the
tree is a module-level singleton: whatever a service needs it reaches through
the core it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final, TypeVar, cast

from appliance.atomic import remove_stale_temporaries
from appliance.audit import AuditLog
from appliance.changes import ChangeFeed
from appliance.config import PreauConfig
from appliance.config_overlay import OVERLAY_TOPIC, overlay_digest
from appliance.executor import BlockingExecutor
from appliance.features import Feature, installed_features
from appliance.i18n import N_
from appliance.identity.directory import Directory
from appliance.service import Health, Service
from appliance.state.db import StateDB

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

# How often each service is asked for its health (in memory, nothing written).
HEALTH_INTERVAL_SECONDS: Final = 5.0
# Every durable write is an fsync on the box's SD card (#15: an idle box writes
# at most 50 MB a day). So a health row is written when its status or message
# changes, when only its figures changed at most every HEALTH_FIGURES_SECONDS,
# and otherwise every HEALTH_HEARTBEAT_SECONDS to show the process is alive.
HEALTH_FIGURES_SECONDS: Final = 300.0
HEALTH_HEARTBEAT_SECONDS: Final = 900.0
# A health row older than this means its process is hung or gone; a row whose
# process has exited is stale at once (appliance.site_status checks the pid).
HEALTH_STALE_SECONDS: Final = 2 * HEALTH_HEARTBEAT_SECONDS + 60
STOP_TIMEOUT_SECONDS: Final = 4.0
# A change topic asking every process to start its services again on what is
# now on disk (a replacement box restored its predecessor's state and file).
RESTART_TOPIC: Final = "appliance.restart"


class Core:
    """Shared resources and the services running in this process."""

    def __init__(
        self,
        config: PreauConfig,
        config_path: Path | None = None,
        features: tuple[Feature, ...] | None = None,
    ) -> None:
        """Hold the config; :meth:`async_open` opens the resources."""
        self.config = config
        self.features = installed_features() if features is None else features
        self.config_path = config_path
        self.executor = BlockingExecutor()
        self.started_at = time.time()
        self._db: StateDB | None = None
        self._changes: ChangeFeed | None = None
        self._directory: Directory | None = None
        self._audit: AuditLog | None = None
        # The config overlay this process started on (appliance.config_overlay).
        self.overlay_digest = ""
        # Set when this process must start again on a new config (the CLI re-executes).
        self.restart_requested = asyncio.Event()
        self.services: dict[str, Service] = {}
        self._shared: dict[Callable[[Core], object], object] = {}
        self._health_task: asyncio.Task[None] | None = None
        # What this process last wrote of each service's health, and when.
        self._health_written: dict[str, tuple[tuple[str, str, str], float]] = {}

    @property
    def db(self) -> StateDB:
        """Return the open state DB."""
        if self._db is None:
            raise RuntimeError("core is not open")
        return self._db

    @property
    def changes(self) -> ChangeFeed:
        """Return the change feed."""
        if self._changes is None:
            raise RuntimeError("core is not open")
        return self._changes

    @property
    def directory(self) -> Directory:
        """Return the identity facade."""
        if self._directory is None:
            raise RuntimeError("core is not open")
        return self._directory

    @property
    def audit(self) -> AuditLog:
        """Return the audit log."""
        if self._audit is None:
            raise RuntimeError("core is not open")
        return self._audit

    def shared(self, create: Callable[[Core], _T]) -> _T:
        """Return the one object ``create`` makes for this core, making it on first use.

        Whatever several parts of one process must share (the productions
        store's per-person locks and PERSONNEL keyring: the web app, WebDAV,
        held uploads and the nightly jobs) is built once here, not once each.
        """
        if create not in self._shared:
            self._shared[create] = create(self)
        return cast(_T, self._shared[create])

    async def async_open(self) -> None:
        """Open the state DB and the shared facades."""
        data_dir = self.config.site.data_dir
        await self.executor.run(remove_stale_temporaries, data_dir)
        self._db = await StateDB.open(self.config.state_path, self.executor)
        self.overlay_digest = await self.executor.run(overlay_digest, data_dir)
        self._changes = ChangeFeed(self._db)
        self._db.on_change = self._changes.poke
        self._directory = Directory(self.config, self._db, self.executor)
        self._audit = AuditLog(self._db)

    async def async_close(self) -> None:
        """Close everything :meth:`async_open` opened."""
        if self._db is not None:
            await self._db.close()
            self._db = None
            self._changes = self._directory = self._audit = None
        self.executor.shutdown()

    async def async_start_services(self, services: Iterable[Service]) -> None:
        """Set up and start services, then report their health periodically."""
        for service in services:
            self.services[service.name] = service
        for service in self.services.values():
            await service.async_setup()
        for service in self.services.values():
            await service.async_start()
            _LOGGER.info("Service %s started", service.name)
        self.changes.subscribe(OVERLAY_TOPIC, self._overlay_changed)
        self.changes.subscribe(RESTART_TOPIC, self._restart_asked)
        await self.changes.start()
        await self.report_health()
        self._health_task = asyncio.create_task(self._report_forever(), name="preau-health")

    async def async_stop_services(self) -> None:
        """Stop services in reverse order, each within the stop timeout."""
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
            self._health_task = None
        if self._changes is not None:
            await self._changes.stop()
        for service in reversed(list(self.services.values())):
            try:
                async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                    await service.async_stop()
            except TimeoutError:
                _LOGGER.warning("Service %s did not stop in time", service.name)
            except Exception:
                _LOGGER.exception("Service %s failed to stop", service.name)
        async with self.db.write() as tx:
            await tx.executemany(
                "DELETE FROM service_health WHERE service = ? AND pid = ?",
                [(name, os.getpid()) for name in self.services],
            )
        self.services.clear()
        self._health_written.clear()

    async def _overlay_changed(self, topic: str) -> None:
        """Ask for a restart on the new config when the overlay this process runs on changed."""
        now = await self.executor.run(overlay_digest, self.config.site.data_dir)
        if now != self.overlay_digest:
            _LOGGER.info("Config overlay changed: restarting services on the new config")
            self.restart_requested.set()

    async def _restart_asked(self, topic: str) -> None:
        """Start the services again: the state DB or the local file changed under them."""
        _LOGGER.info("Restart asked (%s): restarting services", topic)
        self.restart_requested.set()

    async def report_health(self, now: float | None = None) -> None:
        """Write every local service's health that is due to the state DB for the dashboard."""
        rows = []
        now = time.time() if now is None else now
        for name, service in self.services.items():
            try:
                health = await service.async_health()
            except Exception as err:
                _LOGGER.exception("Health check of %s failed", name)
                health = Health(
                    "down", N_("le contrôle de santé a échoué : %(error)s"), {"error": str(err)}
                )
            feed_problem = self._changes.problem() if self._changes is not None else None
            if feed_problem is not None and health.status == "ok":
                # Without the feed, this process misses other processes' changes.
                health = feed_problem
            values = json.dumps(dict(health.values), ensure_ascii=False)
            shown = (health.status, health.detail, values)
            if health_due(self._health_written.get(name), shown, now):
                rows.append((name, health.status, health.detail, values, os.getpid(), now))
        if not rows:
            return
        async with self.db.write() as tx:
            await tx.executemany(
                "INSERT INTO service_health (service, status, detail, detail_values, pid,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (service) DO UPDATE SET"
                " status = excluded.status, detail = excluded.detail,"
                " detail_values = excluded.detail_values, pid = excluded.pid,"
                " updated_at = excluded.updated_at",
                rows,
            )
        for name, status, detail, values, _pid, at in rows:
            self._health_written[name] = ((status, detail, values), at)

    async def _report_forever(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL_SECONDS)
            try:
                await self.report_health()
            except Exception:
                _LOGGER.exception("Could not record service health")


def health_due(
    written: tuple[tuple[str, str, str], float] | None, shown: tuple[str, str, str], now: float
) -> bool:
    """Tell whether a health row (status, message, figures) must be written now."""
    if written is None:
        return True
    (status, detail, values), at = written
    if (status, detail) != shown[:2]:
        return True
    if values != shown[2]:
        return now - at >= HEALTH_FIGURES_SECONDS
    return now - at >= HEALTH_HEARTBEAT_SECONDS


async def run_until_signalled(core: Core, services: list[Service]) -> bool:
    """Run services until SIGTERM or SIGINT, then stop them gracefully.

    Return True when they stopped to start again on a new config overlay.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await core.async_open()
    try:
        try:
            await core.async_start_services(services)
            _LOGGER.info("Préau running: %s", ", ".join(core.services))
            stopped = asyncio.create_task(stop.wait())
            restart = asyncio.create_task(core.restart_requested.wait())
            try:
                await asyncio.wait((stopped, restart), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in (stopped, restart):
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter
            _LOGGER.info("Stopping")
            return core.restart_requested.is_set() and not stop.is_set()
        finally:
            # Also after a failed start: stop what did start, withdraw health rows.
            await core.async_stop_services()
    finally:
        await core.async_close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)

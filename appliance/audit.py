"""The audit log: every authentication attempt and every admin action.

Entries are committed durably before the response leaves (reliability goal
12), never contain a password or token (ground rule 6), and are purged after
``audit.retention_days`` (CNIL deliberation 2021-122: 6 months to 1 year).
"""

from __future__ import annotations

import datetime as dt
import logging

from appliance.state.db import StateDB, Transaction

_LOGGER = logging.getLogger(__name__)


def utc_now_iso() -> str:
    """Return the current UTC time as ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class AuditLog:
    """Append and purge audit entries in the state DB."""

    def __init__(self, db: StateDB) -> None:
        """Bind the log to the state database."""
        self._db = db

    async def record(
        self,
        *,
        actor: str,
        source: str,
        action: str,
        outcome: str,
        target: str = "",
        detail: str = "",
    ) -> None:
        """Append one entry durably."""
        async with self._db.write() as tx:
            await self.record_in(
                tx,
                actor=actor,
                source=source,
                action=action,
                outcome=outcome,
                target=target,
                detail=detail,
            )
        # Debug only: the audit table is the record, with its own retention;
        # journald would otherwise keep pupils' identifiers for as long as it likes.
        _LOGGER.debug("audit %s %s by %s from %s: %s", action, target, actor, source, outcome)

    @staticmethod
    async def record_in(
        tx: Transaction,
        *,
        actor: str,
        source: str,
        action: str,
        outcome: str,
        target: str = "",
        detail: str = "",
    ) -> None:
        """Append one entry inside a caller's transaction (committed with it)."""
        await tx.execute(
            "INSERT INTO audit (at, actor, source, action, target, outcome, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (utc_now_iso(), actor, source, action, target, outcome, detail),
        )

    async def recent(self, limit: int = 50) -> list[dict[str, str]]:
        """Return the newest entries first."""
        rows = await self._db.fetchall(
            "SELECT at, actor, source, action, target, outcome, detail FROM audit"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [dict(row) for row in rows]

    async def purge(self, retention_days: int) -> int:
        """Delete entries older than the retention period; return how many."""
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=retention_days)).isoformat()
        return await self._db.execute_write("DELETE FROM audit WHERE at < ?", (cutoff,))

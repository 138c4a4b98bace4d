"""Extra closed days, added by the referent (#5.22).

Changing them re-plans every maintenance job: the change is recorded on the
calendar topic in the same transaction, so the scheduler sees it whichever
process it runs in.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from appliance.audit import utc_now_iso
from appliance.scheduler.jobs import CALENDAR_TOPIC

if TYPE_CHECKING:
    from appliance.core import Core


async def list_closed_days(core: Core) -> list[dict[str, str]]:
    """Return the closed days in date order."""
    rows = await core.db.fetchall("SELECT day, reason FROM closed_days ORDER BY day")
    return [{"day": row["day"], "reason": row["reason"]} for row in rows]


async def add_closed_day(core: Core, day: dt.date, reason: str, *, actor: str, source: str) -> bool:
    """Record a closed day durably and audit it; return whether it is new."""
    async with core.db.write() as tx:
        changed = await tx.execute(
            "INSERT OR IGNORE INTO closed_days (day, reason, created_by, created_at)"
            " VALUES (?, ?, ?, ?)",
            (day.isoformat(), reason, actor, utc_now_iso()),
        )
        await tx.notify(CALENDAR_TOPIC)
    await core.audit.record(
        actor=actor,
        source=source,
        action="calendar.closed_day.add",
        target=day.isoformat(),
        outcome="success" if changed else "exists",
    )
    return changed > 0


async def remove_closed_day(core: Core, day: dt.date, *, actor: str, source: str) -> bool:
    """Remove a closed day and audit it; return whether it existed."""
    async with core.db.write() as tx:
        changed = await tx.execute("DELETE FROM closed_days WHERE day = ?", (day.isoformat(),))
        await tx.notify(CALENDAR_TOPIC)
    await core.audit.record(
        actor=actor,
        source=source,
        action="calendar.closed_day.remove",
        target=day.isoformat(),
        outcome="success" if changed else "absent",
    )
    return changed > 0

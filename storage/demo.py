"""The storage's invented history: the spaces filling up over the year (#16 scope 3).

The space used is a state the kernel notes each night (``dashboard_days``):
the demo writes those notes, growing on school days up to today's real use
(the chart never shows more than the spaces hold).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.demo_history import HistoryPlan


async def storage_history(core: Core, plan: HistoryPlan) -> int:
    """Write the nightly notes of the bytes used, rising to today's; return the rows written."""
    row = await core.db.fetchone("SELECT COALESCE(SUM(bytes), 0) FROM storage_usage")
    today = float(row[0]) if row else 0.0
    steps = [plan.busy(day) * plan.rng.uniform(0.5, 1.5) for day in plan.days[:-1]]
    total = sum(steps) or 1.0
    used, rows = 0.0, []
    for day, step in zip(plan.days[:-1], steps, strict=True):  # today's figure is read live
        used += today * step / total
        rows.append((day.isoformat(), "storage.used", round(used)))
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT OR REPLACE INTO dashboard_days (day, key, value) VALUES (?, ?, ?)", rows
        )
    return len(rows)

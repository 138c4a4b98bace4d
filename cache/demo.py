"""The cache's invented history: updates served from the box, by content type (#16 scope 3).

Each update is fetched once from the internet and served to many devices:
what the box saved the school's link is the difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.demo_history import HistoryPlan

# (content class, bytes served a busy day per person, share fetched from the internet)
SHAPE: Final = (("windows", 40e6, 0.05), ("chromeos", 25e6, 0.08), ("linux", 15e6, 0.1))


async def cache_history(core: Core, plan: HistoryPlan) -> int:
    """Write each day's traffic by content class; return the rows written."""
    rows = []
    people = len(plan.people)
    for day in plan.days:
        busy = plan.busy(day)
        for content_class, per_person, fetched_share in SHAPE:
            served = int(people * per_person * busy * plan.rng.uniform(0.3, 1.2))
            fetched = int(served * fetched_share)
            hits = served // 2_000_000
            rows.append((day.isoformat(), content_class, served, fetched, hits, hits // 10))
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT OR REPLACE INTO cache_traffic"
            " (day, content_class, served_bytes, fetched_bytes, hits, misses)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)

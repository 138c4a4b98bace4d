"""The filter's invented history: hourly queries and blocks of a school (#16 scope 3).

Pupils' group ``college`` and the teachers'; a few percent of the pupils'
queries land in blocked categories. Counts only, by group and category, as
the filter itself keeps them.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.demo_history import HistoryPlan

# (group, category, share of the group's queries, blocked?)
SHAPE: Final = (
    ("college", "-", 0.90, False),
    ("college", "education", 0.05, False),
    ("college", "games", 0.025, True),
    ("college", "social_networks", 0.02, True),
    ("college", "adult", 0.005, True),
    ("teachers", "-", 0.99, False),
    ("teachers", "adult", 0.01, True),
)
# Queries an hour per person using the network at a busy hour.
QUERIES_PER_PERSON_HOUR: Final = 120


async def filter_history(core: Core, plan: HistoryPlan) -> int:
    """Write hourly counters for every day of the plan; return the rows written."""
    zone = core.config.site.zone
    pupils = sum(1 for _login, role in plan.people if role == "pupil")
    teachers = len(plan.people) - pupils
    rows = []
    for day in plan.days:
        for hour in range(24):
            busy = plan.busy(day, hour)
            if not busy:
                continue
            key = (
                dt.datetime.combine(day, dt.time(hour), zone)
                .astimezone(dt.UTC)
                .strftime("%Y-%m-%dT%H:00Z")
            )
            for group, category, share, blocked in SHAPE:
                people = pupils if group == "college" else teachers
                mean = people * QUERIES_PER_PERSON_HOUR * share * busy
                count = max(0, int(plan.rng.gauss(mean, mean / 10 + 1)))
                if count:
                    rows.append((key, group, category, count, count if blocked else 0))
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT INTO filter_counters (hour, group_name, category, queries, blocked)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (hour, group_name, category) DO UPDATE SET"
            " queries = excluded.queries, blocked = excluded.blocked",
            rows,
        )
    return len(rows)

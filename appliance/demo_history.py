"""Invented usage history: the demo's charts, and the benchmark's year (#16 scopes 1 and 3).

Each feature writes its own share into its own tables through
:attr:`~appliance.features.Feature.demo`; the kernel only says which
days, who, and how busy each day is (:class:`HistoryPlan`). The figures are
invented but shaped like a school's: busy on school days between 8 and 17,
a quiet Wednesday afternoon, next to nothing at weekends. A seeded
``random.Random`` makes every run the same.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.core import Core

SCHOOL_HOURS = range(8, 18)


@dataclass(frozen=True, slots=True)
class HistoryPlan:
    """Which local days to invent, for whom, and how busy each one is."""

    days: tuple[dt.date, ...]
    # (login, role) of the people who use the network: pupils, teachers, staff.
    people: tuple[tuple[str, str], ...]
    seed: int = 2026
    rng: random.Random = field(init=False, compare=False)

    def __post_init__(self) -> None:
        """Start the plan's own seeded generator."""
        object.__setattr__(self, "rng", random.Random(self.seed))

    @classmethod
    def ending(
        cls, today: dt.date, count: int, people: tuple[tuple[str, str], ...], seed: int = 2026
    ) -> HistoryPlan:
        """Return the plan of ``count`` days ending today."""
        days = tuple(today - dt.timedelta(days=n) for n in range(count - 1, -1, -1))
        return cls(days, people, seed)

    @staticmethod
    def busy(day: dt.date, hour: int | None = None) -> float:
        """Return how busy a local day (or one of its hours) is, from 0 to 1."""
        if day.weekday() >= 5:
            return 0.03
        if hour is not None and hour not in SCHOOL_HOURS:
            return 0.0
        if day.weekday() == 2 and (hour is None or hour >= 12):
            return 0.4  # Wednesday afternoon: no lessons in most collèges
        return 1.0


async def seed_history(core: Core, plan: HistoryPlan) -> dict[str, int]:
    """Write the plan's history through every feature; return the rows each wrote."""
    written = {"kernel": await _kernel_history(core, plan)}
    for feature in core.features:
        if feature.demo is not None:
            written[feature.name] = await feature.demo(core, plan)
    return written


async def _kernel_history(core: Core, plan: HistoryPlan) -> int:
    """Note a slowly filling data disk for the dashboard's chart."""
    rows = [
        (day.isoformat(), "kernel.disk", round(12 + 10 * index / len(plan.days), 1))
        for index, day in enumerate(plan.days[:-1])
    ]
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT OR REPLACE INTO dashboard_days (day, key, value) VALUES (?, ?, ?)", rows
        )
    return len(rows)

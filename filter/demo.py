"""The filter's share of the demo: an invented UT1-shaped list and a school's history (#16).

The list: a few invented names in UT1's categories, under the reserved
``.test`` domain (RFC 2606: no real site), loaded like any UT1 list, so that
blocking, the block page and « Pourquoi ce site est-il bloqué ? » work offline
from the first minute. Its name says it is the demo's.

The history: pupils' group ``college`` and the teachers'; a few percent of the
pupils' queries land in blocked categories. Counts only, by group and category,
as the filter itself keeps them.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
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


DEMO_LIST: Final = "demo-ut1"
# Invented names, by UT1 category: each under its own .test domain.
DEMO_NAMES: Final = {
    "adult": ("contenus-adultes", "videos-pour-adultes", "rencontres-x"),
    "games": ("jeux-en-ligne", "jeu-de-tir", "casual-games"),
    "social_networks": ("reseau-social", "partage-de-photos", "videos-courtes"),
    "gambling": ("paris-sportifs", "casino-en-ligne"),
    "malware": ("telechargement-pirate", "faux-antivirus"),
    "phishing": ("connexion-banque-securite", "colis-en-attente"),
    "chat": ("messagerie-anonyme",),
    "shopping": ("boutique-en-ligne",),
}


def demo_list_tree(root: Path) -> int:
    """Write the demo's UT1-shaped tree under ``root``; return the names written."""
    count = 0
    for category, names in DEMO_NAMES.items():
        folder = root / category
        folder.mkdir(parents=True)
        lines = [f"{name}.demo.test" for name in names]
        (folder / "domains").write_text("\n".join(lines) + "\n", encoding="utf-8")
        count += len(lines)
    return count


async def load_demo_list(core: Core) -> int:
    """Load the demo's invented list as the filter loads UT1; return its names."""
    from filter.cli import import_list

    with tempfile.TemporaryDirectory(prefix="preau-demo-list-") as folder:
        root = Path(folder)
        await core.executor.run(demo_list_tree, root)
        report = await import_list(core, root, name=DEMO_LIST, list_format="ut1", category="")
    return report.total


async def filter_demo(core: Core, plan: HistoryPlan) -> int:
    """Load the demo's list and write its history; return the rows and names written."""
    return await load_demo_list(core) + await filter_history(core, plan)


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

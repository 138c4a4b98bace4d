"""The storage's share of the demo school (#16 scope 3): work in the spaces, a class at work.

- A few pupils have files in their pedagogical space; the teacher of 6A has
  handed out instructions and opened an assignment, which some pupils have
  handed in: the class page shows who did and who did not.
- The space used is a state the kernel notes each night (``dashboard_days``):
  the demo writes those notes, growing on school days up to today's real use
  (the chart never shows more than the spaces hold).

Everything is written through the store, as the pages write it; nothing is
invented for people the directory does not have.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

from storage import classes
from storage.assignments import open_assignment
from storage.store import ProductionsStore

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.demo_history import HistoryPlan

TEACHER: Final = "prof.durand"
CLASS: Final = "6A"
OWN_FILES: Final = (
    ("l.bernard", "Histoire/Exposé sur les châteaux forts.txt",
     "Plan : 1. Pourquoi des châteaux ? 2. La vie au château. 3. Les sièges.\n"),
    ("l.bernard", "Sciences/Compte rendu - la germination.txt",
     "Jour 1 : graines de haricot sur du coton humide.\n"),
    ("h.petit", "Français/Rédaction - un souvenir de vacances.txt",
     "L'été dernier, nous sommes allés à la mer...\n"),
    ("j.robert", "Mathématiques/Exercices fractions.txt", "3/4 + 1/8 = 7/8\n"),
)  # fmt: skip
HANDED_IN: Final = ("l.bernard", "h.petit", "j.robert", "l.richard")


async def _once(text: str) -> AsyncIterator[bytes]:
    yield text.encode()


async def _class_at_work(core: Core, store: ProductionsStore) -> int:
    """Hand out instructions in 6A, open an assignment, hand some work in; return files."""
    if await core.directory.person(TEACHER) is None or not await core.directory.has_class(CLASS):
        return 0
    root = core.config.site.data_dir / "productions" / "classes"
    teacher = classes.Person(TEACHER, "teacher", "", (CLASS,), ())
    handout = classes.distribution(root, CLASS, teacher, write=True)
    await store.put_class_file(
        handout, "Consignes - exposé sur le Moyen Âge.txt",
        _once("Choisissez un thème, 2 pages, à rendre avant vendredi.\n"), actor=TEACHER,
    )  # fmt: skip
    due = time.time() + 5 * 86_400
    assignment = await open_assignment(
        core, CLASS, "Exposé sur le Moyen Âge", actor=TEACHER, due_at=due
    )
    written = 1
    for pupil in HANDED_IN:
        if await core.directory.person(pupil) is None:
            continue
        who = classes.Person(pupil, "pupil", CLASS, (), ())
        folder = classes.submission(
            root, CLASS, assignment, pupil, who, write=True, due_at=due, now=time.time(),
            members=None,
        )  # fmt: skip
        await store.put_class_file(
            folder, "Exposé.txt", _once(f"Exposé de {pupil} (démo).\n"), actor=pupil
        )
        written += 1
    return written


async def storage_history(core: Core, plan: HistoryPlan) -> int:
    """Put the demo's work in place, then note the bytes used, rising to today's."""
    store = core.shared(ProductionsStore)
    written = 0
    for login, path, text in OWN_FILES:
        if await core.directory.person(login) is not None:
            await store.put("", login, "pupil", "pedagogical", path, _once(text))
            written += 1
    written += await _class_at_work(core, store)
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
    return written + len(rows)

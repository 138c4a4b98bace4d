"""Teachers' lessons in the state DB: replaced per teacher and source, asked "now?".

The rule that reads an export is pure (:mod:`appliance.scheduler.timetable`);
this module stores what it gave and answers the teacher's page and the
control's end (:mod:`appliance.scheduler.lessons`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from appliance.scheduler.timetable import TimetableLesson

if TYPE_CHECKING:
    from appliance.core import Core


async def stored_lessons(core: Core, person_id: str, source: str) -> list[TimetableLesson]:
    """Return a teacher's lessons from one source, in order."""
    zone = core.config.site.zone
    rows = await core.db.fetchall(
        "SELECT class_name, starts_at, ends_at, room FROM timetable"
        " WHERE person_id = ? AND source = ? ORDER BY starts_at",
        (person_id, source),
    )
    return [
        TimetableLesson(
            dt.datetime.fromtimestamp(row["starts_at"], zone),
            dt.datetime.fromtimestamp(row["ends_at"], zone),
            row["class_name"],
            row["room"],
        )
        for row in rows
    ]


async def replace_lessons(
    core: Core, person_id: str, lessons: Iterable[TimetableLesson], source: str
) -> int:
    """Replace a teacher's lessons from ``source``; return how many are stored."""
    rows = [
        (person_id, lesson.class_name, lesson.start.timestamp(), lesson.end.timestamp(),
         lesson.room, source)
        for lesson in lessons
    ]  # fmt: skip
    async with core.db.write() as tx:
        await tx.execute(
            "DELETE FROM timetable WHERE person_id = ? AND source = ?", (person_id, source)
        )
        await tx.executemany(
            "INSERT INTO timetable (person_id, class_name, starts_at, ends_at, room, source)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


async def lesson_now(core: Core, person_id: str, now: dt.datetime) -> TimetableLesson | None:
    """Return the lesson a teacher is giving at ``now``, from any source, or None."""
    row = await core.db.fetchone(
        "SELECT class_name, starts_at, ends_at, room FROM timetable"
        " WHERE person_id = ? AND starts_at <= ? AND ends_at > ? ORDER BY starts_at DESC LIMIT 1",
        (person_id, now.timestamp(), now.timestamp()),
    )
    if row is None:
        return None
    zone = core.config.site.zone
    return TimetableLesson(
        dt.datetime.fromtimestamp(row["starts_at"], zone),
        dt.datetime.fromtimestamp(row["ends_at"], zone),
        row["class_name"],
        row["room"],
    )

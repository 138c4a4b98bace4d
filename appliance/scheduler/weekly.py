"""A weekly timetable (a manual grid, STS-Web's courses) turned into dated lessons.

Issue #13 scope 2. Three sources describe a teacher's week: an iCalendar
export gives dated events (:mod:`appliance.scheduler.timetable`); STS-Web's
"Emploi du temps" export and the referent's manual grid give *weekly* lessons
(a weekday, a start and an end, a class, a room) with an alternation: every
week, or only some weeks. All three end as the same dated
:class:`~appliance.scheduler.timetable.TimetableLesson` list, so the teacher's
page and a control's end never know where a lesson came from.

Alternations are sets of weeks, named by their Monday. STS-Web lists each
alternation's weeks itself (``ALTERNANCE/SEMAINES/DATE_DEBUT_SEMAINE``). The
manual grid says "A" or "B": :func:`ab_weeks` counts school weeks from the
referent's ``scheduler.week_a``, skipping the weeks without a day of classes,
so the week after the holidays follows the week before them, as a collège's
timetable does.

The manual grid is a CSV file, one lesson per line, ``;`` or ``,`` separated:
``jour;créneau;classe;salle;semaine`` (``lundi;M3;6A;Salle 102;`` or
``jeudi;14:00-14:55;5B;;A``). A créneau is a name of ``scheduler.periods`` or
an ``HH:MM-HH:MM`` span. Wall-clock times: a change to summer time moves
nothing. Lessons on a day the calendar closes are dropped and counted. Pure.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from appliance.i18n import N_, folded
from appliance.scheduler.calendar import SchoolCalendar
from appliance.scheduler.periods import PeriodGrid
from appliance.scheduler.timetable import (
    MAX_LESSONS,
    TOO_MANY,
    ReadReport,
    TimetableError,
    TimetableLesson,
)

EVERY_WEEK = ""
MAX_GRID_LINES = 200  # a full-time teacher has about 20 lessons a week
_SPAN = re.compile(r"^(\d{1,2})[:h](\d{2})-(\d{1,2})[:h](\d{2})$")
_DAYS = {
    "lundi": 0, "lun": 0, "mardi": 1, "mar": 1, "mercredi": 2, "mer": 2, "jeudi": 3,
    "jeu": 3, "vendredi": 4, "ven": 4, "samedi": 5, "sam": 5,
}  # fmt: skip


@dataclass(frozen=True, slots=True, order=True)
class WeeklyLesson:
    """A lesson every week of its alternation: weekday (0 is Monday), wall-clock times."""

    weekday: int
    start: dt.time
    end: dt.time
    class_name: str
    room: str = ""
    alternation: str = EVERY_WEEK


def monday_of(day: dt.date) -> dt.date:
    """Return the Monday of ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


def _school_weeks(calendar: SchoolCalendar, first: dt.date, last: dt.date) -> list[dt.date]:
    """Return the Mondays from ``first``'s week to ``last``'s that have a day of classes."""
    weeks, monday = [], monday_of(first)
    while monday <= last:
        if any(calendar.has_classes(monday + dt.timedelta(days=n)) for n in range(7)):
            weeks.append(monday)
        monday += dt.timedelta(days=7)
    return weeks


def ab_weeks(
    calendar: SchoolCalendar, week_a: dt.date, since: dt.date, until: dt.date
) -> dict[str, frozenset[dt.date]]:
    """Return the Mondays of weeks A and B between ``since`` and ``until``.

    School weeks alternate from ``week_a``'s (a week A); a week without a day
    of classes (holidays) is no week at all, before or after ``week_a``.
    """
    anchor = monday_of(week_a)
    weeks = _school_weeks(calendar, min(since, anchor), max(until, anchor))
    if anchor not in weeks:
        raise TimetableError(
            N_("scheduler.week_a : la semaine du %(day)s n'a pas de jour de classe"), day=week_a
        )
    origin = weeks.index(anchor)
    found: dict[str, set[dt.date]] = {"A": set(), "B": set()}
    for index, monday in enumerate(weeks):
        if monday_of(since) <= monday <= until:
            found["A" if (index - origin) % 2 == 0 else "B"].add(monday)
    return {name: frozenset(mondays) for name, mondays in found.items()}


def expand_weekly(
    lessons: Iterable[WeeklyLesson],
    calendar: SchoolCalendar,
    *,
    since: dt.datetime,
    until: dt.datetime,
    alternations: Mapping[str, frozenset[dt.date]],
) -> ReadReport:
    """Return the dated lessons of a weekly timetable between ``since`` and ``until``.

    A lesson whose alternation is not in ``alternations`` (and is not every
    week) is left out and counted under its name, as the preview must say so.
    """
    zone = calendar.zone
    report = ReadReport()
    first = since.astimezone(zone).date()
    last = until.astimezone(zone).date()
    for weekly in sorted(set(lessons)):
        weeks = alternations.get(weekly.alternation)
        if weekly.alternation != EVERY_WEEK and weeks is None:
            report.no_class[f"semaines « {weekly.alternation} » inconnues"] += 1
            continue
        day = monday_of(first) + dt.timedelta(days=weekly.weekday)
        while day <= last:
            if weeks is not None and monday_of(day) not in weeks:
                day += dt.timedelta(days=7)
                continue
            start = dt.datetime.combine(day, weekly.start, tzinfo=zone)
            if since <= start < until:
                if calendar.has_classes(day):
                    end = dt.datetime.combine(day, weekly.end, tzinfo=zone)
                    report.lessons.append(
                        TimetableLesson(start, end, weekly.class_name, weekly.room)
                    )
                else:
                    report.closed_days += 1
            if len(report.lessons) > MAX_LESSONS:
                raise TimetableError(TOO_MANY)
            day += dt.timedelta(days=7)
    report.lessons.sort()
    return report


def _span(text: str, grid: PeriodGrid, weekday: int) -> tuple[dt.time, dt.time] | None:
    for period in grid.periods:
        if _fold(period.name) == _fold(text) and weekday in period.days:
            return dt.time(period.start // 60, period.start % 60), dt.time(
                period.end // 60, period.end % 60
            )
    match = _SPAN.match(text.strip().replace(" ", ""))
    if match is None:
        return None
    hour, minute, end_hour, end_minute = (int(part) for part in match.groups())
    try:
        start, end = dt.time(hour, minute), dt.time(end_hour, end_minute)
    except ValueError:
        return None
    return (start, end) if start < end else None


def _fold(text: str) -> str:
    return folded(text).strip()


def read_grid(text: str, grid: PeriodGrid, classes: Iterable[str]) -> list[WeeklyLesson]:
    """Return the weekly lessons of a manual grid; a bad line is refused with its number."""
    known = {_fold(name): name for name in classes}
    dialect = ";" if text.count(";") >= text.count(",") else ","
    found: list[WeeklyLesson] = []
    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=dialect), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and _fold(cells[0]) == "jour":
            continue  # the header line
        if len(cells) < 3:
            raise TimetableError(
                N_("ligne %(line)s : jour;créneau;classe[;salle[;semaine]] attendu"), line=number
            )
        day, slot, class_name = cells[0], cells[1], cells[2]
        room = cells[3][:64] if len(cells) > 3 else ""
        weeks = cells[4].upper() if len(cells) > 4 else EVERY_WEEK
        weekday = _DAYS.get(_fold(day).rstrip("."))
        if weekday is None:
            raise TimetableError(
                N_("ligne %(line)s : « %(day)s » n'est pas un jour (lundi … samedi)"),
                line=number,
                day=day,
            )
        span = _span(slot, grid, weekday)
        if span is None:
            raise TimetableError(
                N_("ligne %(line)s : « %(slot)s » n'est ni un créneau de ce jour ni HH:MM-HH:MM"),
                line=number,
                slot=slot,
            )
        name = known.get(_fold(class_name))
        if name is None:
            raise TimetableError(
                N_("ligne %(line)s : l'établissement n'a pas de classe « %(name)s »"),
                line=number,
                name=class_name,
            )
        if weeks not in (EVERY_WEEK, "A", "B"):
            raise TimetableError(
                N_("ligne %(line)s : semaine vaut A, B ou rien, pas « %(weeks)s »"),
                line=number,
                weeks=weeks,
            )
        found.append(WeeklyLesson(weekday, span[0], span[1], name, room, weeks))
        if len(found) > MAX_GRID_LINES:
            raise TimetableError(
                N_("plus de %(count)s lignes : est-ce bien l'emploi du temps d'un enseignant ?"),
                count=MAX_GRID_LINES,
            )
    return found

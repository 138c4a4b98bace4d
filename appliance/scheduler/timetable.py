"""A teacher's timetable, read from the iCalendar export EDT, Pronote or WebUntis gives.

Issue #13 scope 2: from the timetable the box knows, at any moment, the class
a teacher is with; the teacher's page opens on it and a control ends with
the lesson. An export is one teacher's lessons as dated events (or weekly
events with an RRULE, which are expanded here over the school year). An
event becomes a lesson when it names exactly one of the school's classes, as
a word of its summary, description or categories ("MATHS 6A", "6A - Français");
its location is the room. Events naming no class (a meeting) or several are
left out and counted, so the preview says what was not understood. Events
on a day the school calendar closes (holidays, closed days) are dropped.

The times are the export's own instants: a lesson at 10:05 before and after
the change to summer time stays at 10:05, wall-clock. Pure: no I/O and no
clock; :func:`read_lessons` takes the bytes and the period to cover.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import icalendar
from dateutil.rrule import rruleset, rrulestr

from appliance.i18n import N_
from appliance.problems import Problem, UserError
from appliance.scheduler.calendar import SchoolCalendar

_WORD = re.compile(r"[\w-]+", re.UNICODE)
MAX_LESSONS = 5000  # a year of a full-time teacher is about 1,000
TOO_MANY = Problem(
    N_("plus de %(count)s cours : est-ce bien l'emploi du temps d'un enseignant ?"),
    {"count": MAX_LESSONS},
)


class TimetableError(UserError):
    """An export that cannot be read as a timetable."""


@dataclass(frozen=True, slots=True, order=True)
class TimetableLesson:
    """One lesson: a class, from ``start`` to ``end``, in a room."""

    start: dt.datetime
    end: dt.datetime
    class_name: str
    room: str = ""


@dataclass(slots=True)
class ReadReport:
    """What an export gave: the lessons, and what was left out and why."""

    lessons: list[TimetableLesson] = field(default_factory=list)
    no_class: Counter[str] = field(default_factory=Counter)  # summary → count
    several_classes: Counter[str] = field(default_factory=Counter)
    closed_days: int = 0


def _instant(value: object, zone: ZoneInfo) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    return None  # an all-day event is not a lesson


def _classes_named(texts: Iterable[str], known: dict[str, str]) -> list[str]:
    found = []
    for text in texts:
        for word in _WORD.findall(text):
            name = known.get(word.casefold())
            if name is not None and name not in found:
                found.append(name)
    return found


def _occurrences(
    event: icalendar.cal.Component, start: dt.datetime, since: dt.datetime, until: dt.datetime
) -> list[dt.datetime]:
    rule = event.get("RRULE")
    if rule is None:
        return [start] if since <= start < until else []
    rules = rruleset()
    rules.rrule(rrulestr(rule.to_ical().decode(), dtstart=start))
    exdates = event.get("EXDATE")
    for group in exdates if isinstance(exdates, list) else [exdates] if exdates else []:
        for excluded in group.dts:
            when = excluded.dt
            if isinstance(when, dt.datetime):
                rules.exdate(when if when.tzinfo else when.replace(tzinfo=start.tzinfo))
    return list(rules.between(since, until, inc=True))[:MAX_LESSONS]


def read_lessons(
    data: bytes,
    classes: Collection[str],
    calendar: SchoolCalendar,
    *,
    since: dt.datetime,
    until: dt.datetime,
) -> ReadReport:
    """Return the lessons an iCalendar export holds between ``since`` and ``until``."""
    try:
        parsed = icalendar.Calendar.from_ical(data)
    except ValueError as err:
        raise TimetableError(
            N_("ce n'est pas un fichier iCalendar : %(reason)s"), reason=str(err)
        ) from err
    known = {name.casefold(): name for name in classes}
    report = ReadReport()
    for event in parsed.walk("VEVENT"):
        start = _instant(event.decoded("DTSTART", None), calendar.zone)
        end = _instant(event.decoded("DTEND", None), calendar.zone)
        if start is None or end is None or end <= start:
            continue
        summary = str(event.get("SUMMARY", ""))
        categories = event.get("CATEGORIES")
        texts = [summary, str(event.get("DESCRIPTION", ""))]
        for group in categories if isinstance(categories, list) else [categories]:
            if group is not None:
                texts += [str(category) for category in group.cats]
        named = _classes_named(texts, known)
        if not named:
            report.no_class[summary] += 1
            continue
        if len(named) > 1:
            report.several_classes[summary] += 1
            continue
        room = str(event.get("LOCATION", ""))[:64]
        for occurrence in _occurrences(event, start, since, until):
            if not calendar.has_classes(occurrence.astimezone(calendar.zone).date()):
                report.closed_days += 1
                continue
            report.lessons.append(
                TimetableLesson(occurrence, occurrence + (end - start), named[0], room)
            )
            if len(report.lessons) > MAX_LESSONS:
                raise TimetableError(TOO_MANY)
    report.lessons.sort()
    return report


def weekly_shape(lessons: Iterable[TimetableLesson], zone: ZoneInfo) -> Counter[str]:
    """Return how many lessons fall on each "weekday HH:MM-HH:MM class" (the preview's diff)."""
    days = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
    shape: Counter[str] = Counter()
    for lesson in lessons:
        start, end = lesson.start.astimezone(zone), lesson.end.astimezone(zone)
        key = f"{days[start.weekday()]} {start:%H:%M}-{end:%H:%M} {lesson.class_name}"
        shape[key] += 1
    return shape

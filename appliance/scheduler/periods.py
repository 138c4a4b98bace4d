"""The school's créneaux (M1 … S4): when a lesson ends, so a teacher's control ends with it.

A teacher's control (cut the class's internet, an exam's allow-list) lasts
until the end of the current créneau, like UCS@school's room settings: inside
a créneau, its end; in a break between two créneaux, the end of the next one;
outside lessons (before the first, after the last, on a day without classes),
a fallback length (55 min by default). "Prolonger
d'un créneau" moves the end to the end of the créneau that follows. Issue #13,
CARMO #9.2, #9.21.

Pure: no I/O and no clock; the caller passes the instant and the school
calendar (holidays and closed days count: no créneau on those days). Times are
the school's wall-clock times, so a change to or from daylight saving time
moves nothing: 10:05 stays 10:05.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from appliance.config import SchedulerConfig
from appliance.scheduler.calendar import DAY_NAMES, SchoolCalendar, parse_span


@dataclass(frozen=True, slots=True)
class Period:
    """One créneau of the weekly grid: its name, its minutes of the day, its days."""

    name: str
    start: int
    end: int
    days: frozenset[int]


@dataclass(frozen=True, slots=True)
class Lesson:
    """A créneau on a given day, in the school's time zone."""

    name: str
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True, slots=True)
class PeriodGrid:
    """The weekly grid of créneaux."""

    periods: tuple[Period, ...]

    def lessons_on(self, calendar: SchoolCalendar, day: dt.date) -> list[Lesson]:
        """Return the day's créneaux in order (none on a day without classes)."""
        if not calendar.has_classes(day):
            return []
        zone = calendar.zone
        found = [
            Lesson(
                period.name,
                dt.datetime.combine(day, _time(period.start), tzinfo=zone),
                dt.datetime.combine(day, _time(period.end), tzinfo=zone),
            )
            for period in self.periods
            if day.weekday() in period.days
        ]
        return sorted(found, key=lambda lesson: lesson.start)

    def current(self, calendar: SchoolCalendar, instant: dt.datetime) -> Lesson | None:
        """Return the créneau under way at ``instant``, or None (a break, no lessons)."""
        local = instant.astimezone(calendar.zone)
        for lesson in self.lessons_on(calendar, local.date()):
            if lesson.start <= local < lesson.end:
                return lesson
        return None

    def restriction_end(
        self, calendar: SchoolCalendar, instant: dt.datetime, fallback: dt.timedelta
    ) -> tuple[dt.datetime, Lesson | None]:
        """Return when a control set at ``instant`` ends, and the créneau it ends with.

        Inside a créneau, its end; in a break between two, the end of the
        next one; otherwise ``instant + fallback`` (and no créneau).
        """
        local = instant.astimezone(calendar.zone)
        lessons = self.lessons_on(calendar, local.date())
        if lessons and lessons[0].start <= local:
            for lesson in lessons:
                if local < lesson.end:
                    return lesson.end, lesson
        return instant + fallback, None

    def extended(
        self, calendar: SchoolCalendar, current_end: dt.datetime, fallback: dt.timedelta
    ) -> tuple[dt.datetime, Lesson | None]:
        """Return the end of the créneau that follows ``current_end`` ("prolonger d'un créneau").

        A control's end is kept to the second, so it may fall a moment before
        the end of its créneau: the créneau is found a little after it.
        """
        _end, lesson = self.restriction_end(calendar, current_end + _SLACK, fallback)
        if lesson is None:
            return current_end + fallback, None
        return lesson.end, lesson


_SLACK: Final = dt.timedelta(seconds=90)


def _time(minute: int) -> dt.time:
    return dt.time(minute // 60, minute % 60) if minute < 24 * 60 else dt.time(23, 59)


def grid_from_config(config: SchedulerConfig) -> PeriodGrid:
    """Build the grid from ``scheduler.periods``; a créneau without days: every school day."""
    default_days = frozenset(DAY_NAMES.index(day) for day in config.school_days)
    built = []
    for period in config.periods:
        start, end = parse_span(period.hours)
        chosen = frozenset(DAY_NAMES.index(day) for day in period.days) or default_days
        built.append(Period(period.name, start, end, chosen))
    return PeriodGrid(tuple(built))

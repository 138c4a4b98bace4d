"""The school calendar and maintenance windows, as pure functions.

Updates, backups and list refreshes must never land during lessons (CARMO
#7.21, #11.12; the first complaint of every school-server user). A
:class:`SchoolCalendar` knows the school days, the class hours, the holidays
(imported from the iCalendar file the ministry publishes) and extra closed
days. A :class:`MaintenanceWindow` says when a class of jobs may run.
:func:`next_opening` finds the first instant at or after a given time that lies
inside a window and outside class time. No I/O and no clock: the caller passes
"now", so every rule is tested with plain datetimes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final
from zoneinfo import ZoneInfo

from appliance.config import SchedulerConfig, WindowConfig

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_DAY: Final = 24 * 60
# How far ahead to look for an opening (a long summer holiday is ~9 weeks).
HORIZON_DAYS: Final = 400


class CalendarError(ValueError):
    """A calendar file cannot be read as school holidays."""


def parse_span(text: str) -> tuple[int, int]:
    """Parse 'HH:MM-HH:MM' into minutes since midnight (end may be 24:00)."""
    start, end = text.split("-")
    return _minutes(start), _minutes(end)


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _at(day: dt.date, minute: int, zone: ZoneInfo) -> dt.datetime:
    extra_days, minute = divmod(minute, _MINUTES_PER_DAY)
    local_day = day + dt.timedelta(days=extra_days)
    return dt.datetime.combine(local_day, dt.time(minute // 60, minute % 60), tzinfo=zone)


@dataclass(frozen=True, slots=True)
class Holiday:
    """A closed period: ``first`` to ``last`` inclusive."""

    first: dt.date
    last: dt.date
    name: str = ""

    def contains(self, day: dt.date) -> bool:
        """Return whether ``day`` falls in the period."""
        return self.first <= day <= self.last


@dataclass(frozen=True, slots=True)
class SchoolCalendar:
    """When the school has classes."""

    zone: ZoneInfo
    school_days: frozenset[int] = frozenset(range(5))
    class_hours: tuple[tuple[int, int], ...] = ((7 * 60 + 45, 18 * 60 + 30),)
    holidays: tuple[Holiday, ...] = ()
    closed_days: frozenset[dt.date] = field(default_factory=frozenset)

    def is_closed(self, day: dt.date) -> bool:
        """Return whether the school is closed all day (holiday or extra closed day)."""
        return day in self.closed_days or any(h.contains(day) for h in self.holidays)

    def has_classes(self, day: dt.date) -> bool:
        """Return whether ``day`` is a school day with classes."""
        return day.weekday() in self.school_days and not self.is_closed(day)

    def class_span_at(self, instant: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
        """Return the class period containing ``instant``, or None outside class time."""
        local = instant.astimezone(self.zone)
        day = local.date()
        if not self.has_classes(day):
            return None
        for start, end in self.class_hours:
            opening, closing = _at(day, start, self.zone), _at(day, end, self.zone)
            if opening <= local < closing:
                return opening, closing
        return None

    def classes_end(self, instant: dt.datetime) -> dt.datetime | None:
        """Return when the last lessons of ``instant``'s day end (None: no classes that day).

        The end may be past: a session tied to the school day cannot start
        in the evening (issue #11: a 19:05 login got a full session).
        """
        local = instant.astimezone(self.zone)
        if not self.class_hours or not self.has_classes(local.date()):
            return None
        return _at(local.date(), max(end for _start, end in self.class_hours), self.zone)

    def is_class_time(self, instant: dt.datetime) -> bool:
        """Return whether ``instant`` falls during lessons."""
        return self.class_span_at(instant) is not None


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """When a class of jobs may run: a daily time range on some days."""

    start: int
    end: int
    days: frozenset[int] = frozenset(range(7))
    run_on_holidays: bool = False

    @classmethod
    def always(cls) -> MaintenanceWindow:
        """Return the window of urgent jobs: any time outside class hours."""
        return cls(0, _MINUTES_PER_DAY, run_on_holidays=True)

    def intervals(
        self, calendar: SchoolCalendar, first_day: dt.date, days: int
    ) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Yield the window's (open, close) instants for ``days`` days from ``first_day``."""
        end = self.end if self.end > self.start else self.end + _MINUTES_PER_DAY
        for offset in range(days):
            day = first_day + dt.timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            if not self.run_on_holidays and calendar.is_closed(day):
                continue
            yield _at(day, self.start, calendar.zone), _at(day, end, calendar.zone)


@dataclass(frozen=True, slots=True)
class Opening:
    """When a job may next run, and the window interval that instant belongs to."""

    at: dt.datetime
    window_open: dt.datetime
    window_close: dt.datetime


def next_opening(
    window: MaintenanceWindow, calendar: SchoolCalendar, after: dt.datetime
) -> Opening | None:
    """Return the first instant >= ``after`` inside ``window`` and outside class time."""
    local_after = after.astimezone(calendar.zone)
    first_day = local_after.date() - dt.timedelta(days=1)
    for opening, closing in window.intervals(calendar, first_day, HORIZON_DAYS):
        if closing <= local_after:
            continue
        candidate = max(opening, local_after)
        while candidate < closing:
            span = calendar.class_span_at(candidate)
            if span is None:
                return Opening(candidate, opening, closing)
            candidate = span[1]
    return None


def window_from_config(config: WindowConfig) -> MaintenanceWindow:
    """Build a window from its config section."""
    start, end = parse_span(config.hours)
    return MaintenanceWindow(
        start=start,
        end=end,
        days=frozenset(DAY_NAMES.index(day) for day in config.days),
        run_on_holidays=config.run_on_holidays,
    )


def holidays_from_ics(data: bytes, source: str = "calendar") -> list[Holiday]:
    """Read holidays from an iCalendar file such as the ministry's school calendar.

    Each VEVENT is a closed period from DTSTART to DTEND (exclusive, as RFC 5545
    says for dates), or one day without DTEND. Events announcing a "rentrée"
    (first day back) are not closures and are skipped.
    """
    try:
        import icalendar  # only to read a file (8 MB a process otherwise)

        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as err:
        raise CalendarError(f"{source}: not an iCalendar file: {err}") from err
    found: list[Holiday] = []
    for event in calendar.walk("VEVENT"):
        summary = str(event.get("SUMMARY", "")).strip()
        if "rentrée" in summary.lower():
            continue
        if "DTSTART" not in event:
            raise CalendarError(f"{source}: event {summary!r} has no DTSTART")
        start = _as_date(event.decoded("DTSTART"))
        if "DTEND" in event:
            last = _as_date(event.decoded("DTEND")) - dt.timedelta(days=1)
        else:
            last = start
        found.append(Holiday(start, max(start, last), summary))
    found.sort(key=lambda holiday: holiday.first)
    return found


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise CalendarError(f"not a date: {value!r}")


def calendar_from_config(
    config: SchedulerConfig,
    zone: ZoneInfo,
    holidays: Iterable[Holiday] = (),
    extra_closed_days: Iterable[dt.date] = (),
) -> SchoolCalendar:
    """Build the school calendar from config, imported holidays and closed days."""
    return SchoolCalendar(
        zone=zone,
        school_days=frozenset(DAY_NAMES.index(day) for day in config.school_days),
        class_hours=tuple(parse_span(span) for span in config.class_hours),
        holidays=(
            *holidays,
            *(Holiday(period.first, period.last, period.name) for period in config.holidays),
        ),
        closed_days=frozenset([*config.closed_days, *extra_closed_days]),
    )

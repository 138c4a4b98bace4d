"""School calendar and maintenance windows (#5.22, #7.21, #11.12): pure tests."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from appliance.config import SchedulerConfig, WindowConfig
from appliance.scheduler.calendar import (
    CalendarError,
    Holiday,
    MaintenanceWindow,
    SchoolCalendar,
    calendar_from_config,
    holidays_from_ics,
    next_opening,
    window_from_config,
)
from appliance.scheduler.jobs import plan_next_run

PARIS = ZoneInfo("Europe/Paris")

# Shaped like the ministry's published calendar (fr-en-calendrier-scolaire).
FRENCH_ICS = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Education nationale//Calendrier scolaire//FR
BEGIN:VEVENT
UID:toussaint-2026-zone-c
DTSTART;VALUE=DATE:20261017
DTEND;VALUE=DATE:20261102
SUMMARY:Vacances de la Toussaint - Zone C
END:VEVENT
BEGIN:VEVENT
UID:noel-2026
DTSTART;VALUE=DATE:20261219
DTEND;VALUE=DATE:20270104
SUMMARY:Vacances de No\xc3\xabl - Zones A B C
END:VEVENT
BEGIN:VEVENT
UID:rentree-2027
DTSTART;VALUE=DATE:20270104
SUMMARY:Rentr\xc3\xa9e scolaire des \xc3\xa9l\xc3\xa8ves
END:VEVENT
END:VCALENDAR
"""


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=PARIS)


def school() -> SchoolCalendar:
    return calendar_from_config(SchedulerConfig(), PARIS, holidays_from_ics(FRENCH_ICS))


def test_ics_holidays_parsed_with_exclusive_end_and_rentree_skipped() -> None:
    holidays = holidays_from_ics(FRENCH_ICS)
    assert [(h.first, h.last) for h in holidays] == [
        (dt.date(2026, 10, 17), dt.date(2026, 11, 1)),
        (dt.date(2026, 12, 19), dt.date(2027, 1, 3)),
    ]
    assert "Noël" in holidays[1].name


def test_garbage_ics_is_a_clear_error() -> None:
    with pytest.raises(CalendarError, match=r"vacances\.ics"):
        holidays_from_ics(b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT\n", "vacances.ics")


def test_class_time_only_on_open_school_days() -> None:
    calendar = school()
    assert calendar.is_class_time(at("2026-11-23T10:00"))  # Monday
    assert not calendar.is_class_time(at("2026-11-23T19:00"))
    assert not calendar.is_class_time(at("2026-11-22T10:00"))  # Sunday
    assert not calendar.is_class_time(at("2026-10-20T10:00"))  # Toussaint holidays


def test_nightly_window_skips_holidays_by_default() -> None:
    calendar = school()
    nightly = window_from_config(WindowConfig(hours="01:00-05:00"))
    # During the Toussaint holidays, the next opening is the night of the first school day.
    opening = next_opening(nightly, calendar, at("2026-10-20T12:00"))
    assert opening is not None
    assert opening.at == at("2026-11-02T01:00")


def test_window_never_overlaps_class_hours() -> None:
    calendar = school()
    # A misconfigured window that overlaps lessons only opens outside them.
    window = MaintenanceWindow(start=7 * 60, end=20 * 60)
    opening = next_opening(window, calendar, at("2026-11-23T07:00"))
    assert opening is not None
    assert opening.at == at("2026-11-23T07:00")
    opening = next_opening(window, calendar, at("2026-11-23T08:00"))
    assert opening is not None
    assert opening.at == at("2026-11-23T18:30")


def test_window_crossing_midnight() -> None:
    calendar = SchoolCalendar(zone=PARIS)
    window = MaintenanceWindow(start=22 * 60, end=2 * 60)
    opening = next_opening(window, calendar, at("2026-11-24T01:00"))
    assert opening is not None
    assert opening.at == at("2026-11-24T01:00")
    assert opening.window_open == at("2026-11-23T22:00")


def test_urgent_runs_at_once_outside_lessons_and_after_them_during() -> None:
    calendar = school()
    urgent = MaintenanceWindow.always()
    evening = next_opening(urgent, calendar, at("2026-11-23T20:00"))
    assert evening is not None
    assert evening.at == at("2026-11-23T20:00")
    lesson = next_opening(urgent, calendar, at("2026-11-23T09:00"))
    assert lesson is not None
    assert lesson.at == at("2026-11-23T18:30")


def test_extra_closed_day_is_skipped() -> None:
    calendar = calendar_from_config(
        SchedulerConfig(), PARIS, extra_closed_days=[dt.date(2026, 11, 24)]
    )
    nightly = window_from_config(WindowConfig(hours="01:00-05:00"))
    opening = next_opening(nightly, calendar, at("2026-11-23T12:00"))
    assert opening is not None
    assert opening.at == at("2026-11-25T01:00")


def test_holidays_set_in_the_config_close_the_school_like_the_calendar_file() -> None:
    """A central policy sets the académie's holidays as a list (sync bundles carry no file)."""
    config = SchedulerConfig.model_validate(
        {"holidays": [{"name": "Vacances de Noël", "first": "2026-12-19", "last": "2027-01-03"}]}
    )
    calendar = calendar_from_config(config, PARIS)
    assert calendar.is_closed(dt.date(2026, 12, 25))
    assert not calendar.is_closed(dt.date(2027, 1, 4))
    assert not calendar.has_classes(dt.date(2027, 1, 1))
    with pytest.raises(ValidationError, match="la fin ne peut pas précéder le début"):
        SchedulerConfig.model_validate(
            {"holidays": [{"first": "2027-01-03", "last": "2026-12-19"}]}
        )


def test_weekly_window_on_its_day_across_dst_change() -> None:
    calendar = SchoolCalendar(zone=PARIS)
    weekly = MaintenanceWindow(start=2 * 60, end=6 * 60, days=frozenset({6}))
    # 2027-03-28 is the Sunday clocks go forward at 02:00 in Paris.
    opening = next_opening(weekly, calendar, at("2027-03-27T12:00"))
    assert opening is not None
    assert opening.at.date() == dt.date(2027, 3, 28)
    assert opening.at.astimezone(dt.UTC) < at("2027-03-28T06:00").astimezone(dt.UTC)


def test_job_that_ran_this_window_waits_for_the_next() -> None:
    calendar = SchoolCalendar(zone=PARIS)
    nightly = MaintenanceWindow(start=60, end=300)
    now = at("2026-11-23T02:00")
    assert plan_next_run(nightly, calendar, now, None).at == now  # type: ignore[union-attr]
    ran = at("2026-11-23T01:10")
    later = plan_next_run(nightly, calendar, now, ran)
    assert later is not None
    assert later.at == at("2026-11-24T01:00")


def test_missed_window_catches_up_at_the_next_opening() -> None:
    calendar = SchoolCalendar(zone=PARIS)
    nightly = MaintenanceWindow(start=60, end=300)
    # Box was off for two nights: last success three days ago, now it is noon.
    opening = plan_next_run(nightly, calendar, at("2026-11-23T12:00"), at("2026-11-20T01:05"))
    assert opening is not None
    assert opening.at == at("2026-11-24T01:00")
    # Booted at 03:00 inside the window after missing it: run right now.
    opening = plan_next_run(nightly, calendar, at("2026-11-24T03:00"), at("2026-11-20T01:05"))
    assert opening is not None
    assert opening.at == at("2026-11-24T03:00")


def test_holiday_contains_inclusive_bounds() -> None:
    holiday = Holiday(dt.date(2026, 1, 1), dt.date(2026, 1, 2))
    assert holiday.contains(dt.date(2026, 1, 2))
    assert not holiday.contains(dt.date(2026, 1, 3))


def test_classes_end_is_the_last_lesson_of_a_school_day_even_once_past() -> None:
    """Issue #11: a pupil's 19:05 login got a full session; it is past the school day."""
    calendar = SchoolCalendar(zone=PARIS, closed_days=frozenset({dt.date(2026, 12, 2)}))
    evening = dt.datetime(2026, 12, 1, 19, 5, tzinfo=PARIS)  # a Tuesday
    end = calendar.classes_end(evening)
    assert end == dt.datetime(2026, 12, 1, 18, 30, tzinfo=PARIS)
    assert calendar.classes_end(dt.datetime(2026, 12, 5, 10, 0, tzinfo=PARIS)) is None  # Sat.
    assert calendar.classes_end(dt.datetime(2026, 12, 2, 10, 0, tzinfo=PARIS)) is None  # closed

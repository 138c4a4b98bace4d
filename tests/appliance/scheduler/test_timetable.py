"""A teacher's timetable from an iCalendar export (issue #13 scope 2).

``tests/fixtures/timetable/prof-durand.ics`` is written from RFC 5545 the
way EDT exports one teacher: a weekly lesson with an RRULE and an EXDATE
across the change to summer time (29 March 2026), a dated lesson whose
class is in CATEGORIES, a class council naming two classes, a meeting naming
none, an all-day outing. Pure: the calendar and the period are given.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.scheduler.calendar import Holiday, SchoolCalendar
from appliance.scheduler.timetable import (
    TimetableError,
    read_lessons,
    weekly_shape,
)

PARIS = ZoneInfo("Europe/Paris")
EXPORT = Path(__file__).parents[2] / "fixtures" / "timetable" / "prof-durand.ics"
SPRING = Holiday(dt.date(2026, 4, 11), dt.date(2026, 4, 26), "Printemps")
CALENDAR = SchoolCalendar(zone=PARIS, holidays=(SPRING,))
SINCE = dt.datetime(2026, 3, 1, tzinfo=PARIS)
UNTIL = dt.datetime(2026, 7, 1, tzinfo=PARIS)


def test_an_edt_export_becomes_dated_lessons() -> None:
    report = read_lessons(
        EXPORT.read_bytes(), ["6A", "5B", "4C"], CALENDAR, since=SINCE, until=UNTIL
    )
    starts = [(lesson.start.astimezone(PARIS), lesson.class_name) for lesson in report.lessons]
    expected = [
        *((dt.datetime(2026, 3, day, 10, 5, tzinfo=PARIS), "6A") for day in (2, 16, 23, 30)),
        (dt.datetime(2026, 3, 31, 8, 0, tzinfo=PARIS), "5B"),
        (dt.datetime(2026, 4, 6, 10, 5, tzinfo=PARIS), "6A"),
        (dt.datetime(2026, 4, 27, 10, 5, tzinfo=PARIS), "6A"),
    ]
    assert starts == expected  # 9 March excluded (EXDATE), 13 and 20 April in the holidays
    assert report.closed_days == 2
    assert dict(report.several_classes) == {"Conseil de classe 6A 5B": 1}
    assert dict(report.no_class) == {"Réunion parents-professeurs": 1}
    assert {lesson.room for lesson in report.lessons} == {"Salle 102", "Salle 204"}


def test_summer_time_moves_no_lesson() -> None:
    report = read_lessons(EXPORT.read_bytes(), ["6A", "5B"], CALENDAR, since=SINCE, until=UNTIL)
    by_day = {lesson.start.date(): lesson for lesson in report.lessons}
    before, after = by_day[dt.date(2026, 3, 23)], by_day[dt.date(2026, 3, 30)]
    # 10:05 in Paris both Mondays: 09:05 UTC before the change, 08:05 after.
    assert before.start.astimezone(dt.UTC).hour == 9
    assert after.start.astimezone(dt.UTC).hour == 8
    assert (after.end - after.start) == dt.timedelta(minutes=55)
    # One weekly line in the preview, however many weeks.
    shape = weekly_shape(report.lessons, PARIS)
    assert shape["lun. 10:05-11:00 6A"] == 6


def test_a_file_that_is_not_icalendar_is_refused() -> None:
    with pytest.raises(TimetableError, match="iCalendar"):
        read_lessons(b"%PDF-1.4", ["6A"], CALENDAR, since=SINCE, until=UNTIL)

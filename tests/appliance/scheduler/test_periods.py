"""Créneaux: a teacher's control ends with the lesson (issue #13 scope 2 and 4; CARMO #9.2).

Pure: the instants are chosen, the calendar is built here, no clock is read.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from appliance.config import SchedulerConfig
from appliance.scheduler.calendar import Holiday, SchoolCalendar
from appliance.scheduler.periods import grid_from_config

PARIS = ZoneInfo("Europe/Paris")
FALLBACK = dt.timedelta(minutes=55)
GRID = grid_from_config(SchedulerConfig())  # the collège's default grid
CALENDAR = SchoolCalendar(
    zone=PARIS,
    holidays=(Holiday(dt.date(2026, 12, 19), dt.date(2027, 1, 3), "Noël"),),
)


def at(day: str, hhmm: str) -> dt.datetime:
    """Return a wall-clock instant in Paris."""
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=PARIS)


@pytest.mark.parametrize(
    ("instant", "end", "name"),
    [
        (at("2026-12-01", "09:10"), at("2026-12-01", "09:50"), "M2"),  # inside M2
        (at("2026-12-01", "08:55"), at("2026-12-01", "09:50"), "M2"),  # M1 just ended
        (at("2026-12-01", "09:55"), at("2026-12-01", "11:00"), "M3"),  # the break: M3's end
        (at("2026-12-01", "12:30"), at("2026-12-01", "14:25"), "S1"),  # lunch: S1's end
    ],
)
def test_a_control_ends_with_the_creneau(instant: dt.datetime, end: dt.datetime, name: str) -> None:
    found, lesson = GRID.restriction_end(CALENDAR, instant, FALLBACK)
    assert found == end
    assert lesson is not None
    assert lesson.name == name


def test_outside_lessons_the_fallback_applies() -> None:
    morning = at("2026-12-01", "07:30")  # before the first créneau: not a break
    assert GRID.restriction_end(CALENDAR, morning, FALLBACK) == (morning + FALLBACK, None)
    evening = at("2026-12-01", "18:00")
    assert GRID.restriction_end(CALENDAR, evening, FALLBACK) == (evening + FALLBACK, None)
    # Wednesday afternoon has no créneau in a collège.
    wednesday = at("2026-12-02", "14:00")
    assert GRID.restriction_end(CALENDAR, wednesday, FALLBACK) == (wednesday + FALLBACK, None)
    # A holiday week has none either, even at 10:00.
    holiday = at("2026-12-22", "10:00")
    assert GRID.current(CALENDAR, holiday) is None
    assert GRID.restriction_end(CALENDAR, holiday, FALLBACK) == (holiday + FALLBACK, None)


def test_extending_moves_to_the_end_of_the_next_creneau() -> None:
    end, lesson = GRID.extended(CALENDAR, at("2026-12-01", "09:50"), FALLBACK)
    assert (end, lesson.name if lesson else None) == (at("2026-12-01", "11:00"), "M3")
    end, lesson = GRID.extended(CALENDAR, at("2026-12-01", "08:55"), FALLBACK)
    assert (end, lesson.name if lesson else None) == (at("2026-12-01", "09:50"), "M2")
    last = at("2026-12-01", "17:25")
    assert GRID.extended(CALENDAR, last, FALLBACK) == (last + FALLBACK, None)
    # A control's end kept to the second, a moment before M2's end, still moves to M3's.
    early = at("2026-12-01", "09:50") - dt.timedelta(seconds=0.6)
    end, lesson = GRID.extended(CALENDAR, early, FALLBACK)
    assert (end, lesson.name if lesson else None) == (at("2026-12-01", "11:00"), "M3")


def test_a_change_of_time_moves_no_creneau() -> None:
    # Sunday 29 March 2026 the clocks go forward; the Monday's M3 still ends at 11:00
    # local time, which is 09:00 UTC (10:00 UTC the Friday before).
    monday, friday = at("2026-03-30", "10:30"), at("2026-03-27", "10:30")
    monday_end, _ = GRID.restriction_end(CALENDAR, monday, FALLBACK)
    friday_end, _ = GRID.restriction_end(CALENDAR, friday, FALLBACK)
    assert monday_end.astimezone(dt.UTC).hour == 9
    assert friday_end.astimezone(dt.UTC).hour == 10
    # The instant may come in UTC (the server's clock); the answer is the same.
    assert GRID.restriction_end(CALENDAR, monday.astimezone(dt.UTC), FALLBACK)[0] == monday_end


def test_a_creneau_must_end_after_it_starts() -> None:
    with pytest.raises(ValidationError, match="finit après"):
        SchedulerConfig.model_validate({"periods": [{"name": "M1", "hours": "09:00-08:00"}]})

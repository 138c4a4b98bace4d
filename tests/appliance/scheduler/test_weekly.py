"""One teacher's week from three sources gives the same lessons (issue #13 scope 2).

Mme Durand teaches 6A on Mondays in M3 (10:05-11:00, Salle 102) every week,
and the Latin group of 5B on Thursdays in S2 (14:25-15:20, Salle 204) in
weeks A only. The same week is written three ways, from the published
formats: an EDT iCalendar export (``prof-durand-semaines.ics``), STS-Web's
"Emploi du temps" export (``STS_emp_0750001A_2026.xml``, ``COURS_RATTACHES``
and an ``ALTERNANCE``), and the referent's manual grid (``prof-durand.csv``,
créneau names and "A"). March to April 2026 crosses the change to summer
time (29 March) and the spring holidays (two weeks in April): weeks A and B
carry on across the holidays. Pure.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.config import SchedulerConfig
from appliance.identity.sts import match_teachers
from appliance.scheduler.calendar import Holiday, SchoolCalendar
from appliance.scheduler.periods import grid_from_config
from appliance.scheduler.timetable import TimetableError, read_lessons
from appliance.scheduler.weekly import WeeklyLesson, ab_weeks, expand_weekly, read_grid

PARIS = ZoneInfo("Europe/Paris")
FIXTURES = Path(__file__).parents[2] / "fixtures"
SPRING = Holiday(dt.date(2026, 4, 11), dt.date(2026, 4, 26), "Printemps")
CALENDAR = SchoolCalendar(zone=PARIS, holidays=(SPRING,))
SINCE = dt.datetime(2026, 3, 1, tzinfo=PARIS)
UNTIL = dt.datetime(2026, 5, 1, tzinfo=PARIS)
CLASSES = ["6A", "5B", "4C"]
GRID = grid_from_config(SchedulerConfig())
WEEK_A = dt.date(2026, 3, 2)


def _seen(lessons: list[object]) -> list[tuple[dt.datetime, dt.datetime, str, str]]:
    return [
        (lesson.start.astimezone(PARIS), lesson.end.astimezone(PARIS), lesson.class_name,
         lesson.room)
        for lesson in lessons  # type: ignore[attr-defined]
    ]  # fmt: skip


def _expected() -> list[tuple[dt.datetime, dt.datetime, str, str]]:
    def at(day: dt.date, hour: int, minute: int) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=PARIS)

    mondays = [dt.date(2026, 3, d) for d in (2, 9, 16, 23, 30)] + [
        dt.date(2026, 4, 6),
        dt.date(2026, 4, 27),  # 13 and 20 April are in the holidays
    ]
    thursdays_a = [dt.date(2026, 3, 5), dt.date(2026, 3, 19), dt.date(2026, 4, 2),
                   dt.date(2026, 4, 30)]  # fmt: skip
    lessons = [(at(d, 10, 5), at(d, 11, 0), "6A", "Salle 102") for d in mondays]
    lessons += [(at(d, 14, 25), at(d, 15, 20), "5B", "Salle 204") for d in thursdays_a]
    return sorted(lessons)


def test_ics_sts_and_the_manual_grid_give_the_same_lessons() -> None:
    ics = read_lessons(
        (FIXTURES / "timetable" / "prof-durand-semaines.ics").read_bytes(),
        CLASSES, CALENDAR, since=SINCE, until=UNTIL,
    )  # fmt: skip
    links = match_teachers(
        (FIXTURES / "sts" / "STS_emp_0750001A_2026.xml").read_bytes(),
        [("prof.durand", "Durand", "Sophie")],
    )
    sts = expand_weekly(
        links.weekly_of["prof.durand"], CALENDAR, since=SINCE, until=UNTIL,
        alternations=links.alternations,
    )  # fmt: skip
    weekly = read_grid(
        (FIXTURES / "timetable" / "prof-durand.csv").read_text(encoding="utf-8"), GRID, CLASSES
    )
    grid = expand_weekly(
        weekly, CALENDAR, since=SINCE, until=UNTIL,
        alternations=ab_weeks(CALENDAR, WEEK_A, SINCE.date(), UNTIL.date()),
    )  # fmt: skip
    assert _seen(ics.lessons) == _expected()
    assert _seen(sts.lessons) == _expected()
    assert _seen(grid.lessons) == _expected()
    # The holidays dropped two Mondays, and the grid's Thursday of 16 April (a week A).
    assert sts.closed_days == grid.closed_days == 2


def test_summer_time_keeps_the_wall_clock_and_moves_utc() -> None:
    weekly = [WeeklyLesson(0, dt.time(10, 5), dt.time(11, 0), "6A")]
    report = expand_weekly(weekly, CALENDAR, since=SINCE, until=UNTIL, alternations={})
    by_day = {lesson.start.date(): lesson for lesson in report.lessons}
    assert by_day[dt.date(2026, 3, 23)].start.astimezone(dt.UTC).hour == 9
    assert by_day[dt.date(2026, 3, 30)].start.astimezone(dt.UTC).hour == 8


def test_weeks_a_and_b_carry_on_across_the_holidays() -> None:
    weeks = ab_weeks(CALENDAR, WEEK_A, SINCE.date(), UNTIL.date())
    assert sorted(weeks["A"]) == [dt.date(2026, 3, 2), dt.date(2026, 3, 16),
                                  dt.date(2026, 3, 30), dt.date(2026, 4, 27)]  # fmt: skip
    # 23 February: the week of 1 March, the first day asked for.
    assert sorted(weeks["B"]) == [dt.date(2026, 2, 23), dt.date(2026, 3, 9),
                                  dt.date(2026, 3, 23), dt.date(2026, 4, 6)]  # fmt: skip
    # A week A given later in the year counts backwards the same way.
    assert ab_weeks(CALENDAR, dt.date(2026, 4, 29), SINCE.date(), UNTIL.date()) == weeks
    with pytest.raises(TimetableError, match="week_a"):
        ab_weeks(CALENDAR, dt.date(2026, 4, 15), SINCE.date(), UNTIL.date())


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("dimanche;M1;6A", "n'est pas un jour"),
        ("mercredi;S1;6A", "ni un créneau"),  # no afternoon créneaux on Wednesdays
        ("lundi;11:00-10:00;6A", "ni un créneau"),
        ("lundi;M1;6Z", "pas de classe « 6Z »"),
        ("lundi;M1;6A;;C", "A, B ou rien"),
        ("lundi;M1", "jour;créneau;classe"),
    ],
)
def test_a_bad_grid_line_is_refused_with_its_number(line: str, words: str) -> None:
    with pytest.raises(TimetableError, match=words) as refused:
        read_grid(f"jour;créneau;classe\nlundi;M1;6A\n{line}\n", GRID, CLASSES)
    assert "ligne 3" in str(refused.value)


def test_grid_accepts_commas_spans_and_accents() -> None:
    weekly = read_grid("Lundi,08h00-08h55,6a,B12\nven.,M4,5b,,b\n", GRID, CLASSES)
    assert weekly == [
        WeeklyLesson(0, dt.time(8, 0), dt.time(8, 55), "6A", "B12"),
        WeeklyLesson(4, dt.time(11, 0), dt.time(11, 55), "5B", "", "B"),
    ]


def test_an_alternation_the_export_does_not_define_is_left_out_and_said() -> None:
    weekly = [WeeklyLesson(0, dt.time(8, 0), dt.time(8, 55), "6A", alternation="Q1")]
    report = expand_weekly(weekly, CALENDAR, since=SINCE, until=UNTIL, alternations={})
    assert report.lessons == []
    assert dict(report.no_class) == {"semaines « Q1 » inconnues": 1}

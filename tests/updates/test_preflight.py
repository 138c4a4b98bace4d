"""What an update checks before touching anything (CARMO #7.21: never during lessons)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from appliance.config import SchedulerConfig
from appliance.scheduler.calendar import calendar_from_config, next_opening, window_from_config
from updates.preflight import UpdateRefused, check_slot, check_space, check_window, space_needed

PARIS = ZoneInfo("Europe/Paris")


def test_space_needed_is_artefact_plus_unpack_plus_ten_percent() -> None:
    assert space_needed(1_000_000, 0) == 1_100_000
    assert space_needed(300_000_000, 700_000_000) == 1_100_000_000
    assert space_needed(1, 0) == 2  # rounded up, never down
    with pytest.raises(ValueError, match="negative"):
        space_needed(-1, 0)


def test_short_space_is_refused_in_french_with_both_figures() -> None:
    check_space(1_100_000, 1_000_000, 0)  # exactly enough
    with pytest.raises(UpdateRefused) as refused:
        check_space(1_099_999, 1_000_000, 0)
    text = str(refused.value)
    assert "il faut 1,1 Mo libres" in text
    assert "il n'y en a que 1,1 Mo" in text
    assert "Rien n'a été modifié" in text


def test_an_image_larger_than_its_slot_is_refused() -> None:
    check_slot(1024, 1024)
    with pytest.raises(UpdateRefused, match="ne tient pas"):
        check_slot(1025, 1024)


def _opening(now: dt.datetime) -> tuple[dt.datetime, object]:
    scheduler = SchedulerConfig()
    calendar = calendar_from_config(scheduler, PARIS)
    return now, next_opening(window_from_config(scheduler.nightly), calendar, now)


def test_an_update_waits_for_the_nightly_window_and_never_lands_in_lessons() -> None:
    lesson = dt.datetime(2026, 12, 1, 10, 30, tzinfo=PARIS)  # a Tuesday morning
    now, opening = _opening(lesson)
    with pytest.raises(UpdateRefused) as refused:
        check_window(opening, now)  # type: ignore[arg-type]
    assert "Prochaine ouverture : " in str(refused.value)
    assert "Prochaine ouverture : 02/12/2026 01:00" in str(refused.value)
    night = dt.datetime(2026, 12, 2, 2, 30, tzinfo=PARIS)
    now, opening = _opening(night)
    check_window(opening, now)  # type: ignore[arg-type]


def test_no_window_at_all_is_refused() -> None:
    with pytest.raises(UpdateRefused, match="aucune fenêtre"):
        check_window(None, dt.datetime(2026, 12, 2, 2, 30, tzinfo=PARIS))

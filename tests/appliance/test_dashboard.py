"""The dashboard's pure core: its days, its bars, its alerts' order, its numbers (#16 scope 1)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from appliance.dashboard import Alert, Figure, Window, bars, ordered_alerts, series, summary
from appliance.i18n import number_text, octets_text

PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> float:
    """Return the instant of an ISO time with its offset."""
    return dt.datetime.fromisoformat(text).timestamp()


def test_the_window_is_30_local_days_ending_today_in_paris() -> None:
    # 23:30 UTC on 31 March is already 1 April in Paris (summer time).
    window = Window.ending(at("2026-03-31T23:30:00+00:00"), PARIS)
    assert len(window.days) == 30
    assert window.today == dt.date(2026, 4, 1)
    assert window.first == dt.date(2026, 3, 3)
    # The first day begins at midnight in Paris: 23:00 UTC the day before (winter time).
    assert window.start() == dt.datetime(2026, 3, 2, 23, 0, tzinfo=dt.UTC)
    assert window.local_day(dt.datetime(2026, 3, 31, 22, 30, tzinfo=dt.UTC)) == dt.date(2026, 4, 1)


def test_a_figure_s_series_takes_today_live_and_its_days_or_the_kept_ones() -> None:
    window = Window.ending(at("2026-11-30T12:00:00+01:00"), PARIS, 4)
    figure = Figure("x", "X", "/", today=7, days={"2026-11-27": 3})
    kept = {
        "2026-11-28": 5.0,
        "2026-11-30": 99.0,
    }  # today's nightly value loses to today's live one
    assert series(figure, window, kept) == [3, 5.0, None, 7]
    assert summary([3, 5.0, None, 7]) == (15, 7, 3)


def test_bars_scale_to_the_largest_day_and_an_unknown_day_has_no_height() -> None:
    window = Window.ending(at("2026-11-30T12:00:00+01:00"), PARIS, 4)
    drawn = bars(window, [10, None, 5, 0.01], width=100, height=50)
    assert [b.height for b in drawn] == [50, 0, 25, 1.0]  # a tiny value still shows
    assert [b.y + b.height for b in drawn] == [50, 50, 50, 50]  # all stand on the axis
    assert [b.x for b in drawn] == [1.0, 26.0, 51.0, 76.0]
    assert all(b.width == 23.0 for b in drawn)
    assert [b.height for b in bars(window, [None, None, 0, 0])] == [0, 0, 0, 0]


def test_errors_come_before_warnings_each_in_the_order_given() -> None:
    alerts = [
        Alert("warning", "a", "/"),
        Alert("error", "b", "/"),
        Alert("warning", "c", "/"),
        Alert("error", "d", "/"),
    ]
    assert [a.message for a in ordered_alerts(alerts)] == ["b", "d", "a", "c"]


def test_numbers_and_sizes_are_written_as_each_language_writes_them() -> None:
    assert number_text(1234567, "fr") == "1\u202f234\u202f567"
    assert number_text(5.43, "fr") == "5,4"
    assert number_text(1234567, "en") == "1,234,567"
    assert octets_text(5_430_000, "fr") == "5,4\u00a0Mo"
    assert octets_text(5_430_000, "en") == "5.4\u00a0MB"
    assert octets_text(999, "fr") == "999\u00a0o"
    assert octets_text(2.5e12, "fr") == "2,5\u00a0To"

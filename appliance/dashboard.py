"""The referent's dashboard: figures with their 30 days, alerts first (#16 scope 1).

Pure: no I/O. Each feature says what the referent acts on through two
callables of its :class:`~appliance.features.Feature`: ``figures`` (a
:class:`Figure` each: today's value and, by local day, the last 30 days from
the feature's own daily tables) and ``alerts`` (an :class:`Alert` each: what
is wrong now, in French, with the page that fixes it). The kernel adds its
own (the disk, the services, the jobs), orders the alerts (errors first) and
draws each figure's 30 days as a bar chart in SVG, on the server: the page
loads nothing from anywhere, and a phone draws it as fast as text.

A figure that is a state rather than a count (space used, requests waiting)
has no history of its own: ``kept`` asks the kernel to note its value once a
night (``dashboard_days``, one row a figure a day), so its chart fills in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal
from zoneinfo import ZoneInfo

DAYS: Final = 30
Unit = Literal["count", "bytes", "days", "percent"]
Level = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Window:
    """The 30 local days a dashboard shows, today last."""

    now: float
    zone: ZoneInfo
    days: tuple[dt.date, ...]

    @classmethod
    def ending(cls, now: float, zone: ZoneInfo, count: int = DAYS) -> Window:
        """Return the ``count`` local days ending today."""
        today = dt.datetime.fromtimestamp(now, zone).date()
        return cls(now, zone, tuple(today - dt.timedelta(days=n) for n in range(count - 1, -1, -1)))

    @property
    def today(self) -> dt.date:
        """Return the local day of ``now``."""
        return self.days[-1]

    @property
    def first(self) -> dt.date:
        """Return the window's first local day."""
        return self.days[0]

    def start(self) -> dt.datetime:
        """Return the instant the window's first local day begins (aware, UTC)."""
        midnight = dt.datetime.combine(self.first, dt.time(), self.zone)
        return midnight.astimezone(dt.UTC)

    def local_day(self, instant: dt.datetime) -> dt.date:
        """Return the local day of an aware instant."""
        return instant.astimezone(self.zone).date()


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of the dashboard: today's value, its days, the page behind it."""

    key: str  # stable: the tile's id and the history's key ("filter.blocked")
    label: str  # French, marked N_
    link: str
    today: float | None  # None: not known (the service never reported)
    unit: Unit = "count"
    # By local day (ISO date), the days before today that are known.
    days: Mapping[str, float] = field(default_factory=dict)
    # A state, not a count: the kernel notes it nightly so the chart fills in.
    kept: bool = False
    # Today's value split ((label marked N_, value), …): by role, by space.
    parts: Sequence[tuple[str, float]] = ()
    # What one bar is, marked N_ ("requêtes par jour").
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Alert:
    """Something wrong now, said in French, with the page where it is fixed."""

    level: Level
    message: str  # French, marked N_, with %(name)s for ``values``
    link: str
    values: Mapping[str, object] = field(default_factory=dict)


def ordered_alerts(alerts: Iterable[Alert]) -> list[Alert]:
    """Return the alerts errors first, each kind in the order given."""
    return sorted(alerts, key=lambda alert: alert.level != "error")


@dataclass(frozen=True, slots=True)
class Bar:
    """One day's bar of a chart, in the chart's own units."""

    day: dt.date
    value: float | None
    x: float
    y: float
    width: float
    height: float


CHART_WIDTH: Final = 300
CHART_HEIGHT: Final = 60


def series(figure: Figure, window: Window, kept: Mapping[str, float]) -> list[float | None]:
    """Return the figure's value for each day of the window (None: unknown)."""
    values: list[float | None] = []
    for day in window.days:
        if day == window.today:
            values.append(figure.today)
            continue
        key = day.isoformat()
        values.append(figure.days.get(key, kept.get(key)))
    return values


def bars(
    window: Window,
    values: Sequence[float | None],
    width: int = CHART_WIDTH,
    height: int = CHART_HEIGHT,
) -> list[Bar]:
    """Return a bar a day, scaled to the largest value; an unknown day has no height."""
    top = max((v for v in values if v is not None), default=0.0)
    step = width / len(window.days)
    gap = min(2.0, step / 4)
    drawn = []
    for index, (day, value) in enumerate(zip(window.days, values, strict=True)):
        tall = 0.0 if not value or top <= 0 else max(1.0, height * value / top)
        drawn.append(
            Bar(
                day=day,
                value=value,
                x=round(index * step + gap / 2, 2),
                y=round(height - tall, 2),
                width=round(step - gap, 2),
                height=round(tall, 2),
            )
        )
    return drawn


def summary(values: Sequence[float | None]) -> tuple[float, float, int]:
    """Return (total, largest, known days) of a series, for the chart's text."""
    known = [v for v in values if v is not None]
    return (sum(known), max(known, default=0.0), len(known))

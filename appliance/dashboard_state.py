"""The dashboard's figures and alerts, gathered from the kernel and every feature.

The I/O side of :mod:`appliance.dashboard`: asks each feature for its
figures and alerts (one feature's fault costs its own tiles, logged, never
the page), adds the kernel's (the data disk, the services, the maintenance
jobs), and keeps the nightly values of the figures that are states
(``dashboard_days``) with their retention.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Final, TypeVar

from appliance.dashboard import Alert, Figure, Window, ordered_alerts
from appliance.i18n import N_
from appliance.site_status import HostFigures, read_host_figures, services_status

if TYPE_CHECKING:
    from appliance.core import Core

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

DISK_WARNING_PERCENT: Final = 80.0
DISK_ERROR_PERCENT: Final = 90.0
# A referent who logged in this recently and has no second factor is named in an alert.
RECENT_REFERENT_SECONDS: Final = 30 * 86_400.0
# A state's nightly values kept: the chart's 30 days, and a year to compare.
KEPT_DAYS: Final = 400


async def kernel_figures(host: HostFigures) -> list[Figure]:
    """Return the kernel's figures: the data disk's use."""
    return [
        Figure(
            key="kernel.disk",
            label=N_("Disque des données utilisé"),
            link="/dashboard#host-title",
            today=round(host.disk_percent, 1),
            unit="percent",
            kept=True,
            caption=N_("part du disque utilisée, chaque nuit"),
        )
    ]


async def kernel_alerts(core: Core, host: HostFigures) -> list[Alert]:
    """Return what the kernel sees wrong: the disk, a service, a failed job."""
    alerts: list[Alert] = []
    if host.disk_percent >= DISK_WARNING_PERCENT:
        alerts.append(
            Alert(
                "error" if host.disk_percent >= DISK_ERROR_PERCENT else "warning",
                N_("Le disque des données est plein à %(percent)s %% : libérez de la place."),
                "/dashboard#host-title",
                {"percent": round(host.disk_percent)},
            )
        )
    for status in await services_status(core):
        if status.name == "directory" and status.status in ("down", "degraded"):
            alerts.append(
                Alert(
                    "error",
                    N_(
                        "L'annuaire de l'établissement ne répond pas : les élèves et les "
                        "enseignants ne peuvent plus se connecter avec leur compte."
                    ),
                    "/directory",
                )
            )
        elif status.status in ("down", "stopped"):
            alerts.append(
                Alert(
                    "error",
                    N_("Le service « %(service)s » ne fonctionne pas."),
                    "/dashboard#services-title",
                    {"service": ("service", status.name)},
                )
            )
    rows = await core.db.fetchall(
        "SELECT job_id, last_error FROM job_runs WHERE last_error != '' ORDER BY job_id"
    )
    for row in rows:
        alerts.append(
            Alert(
                "warning",
                N_("La tâche « %(job)s » a échoué à sa dernière exécution."),
                "/dashboard#jobs-title",
                {"job": ("job", str(row["job_id"]))},
            )
        )
    unprotected = await core.db.fetchone(
        "SELECT COUNT(DISTINCT person_id) FROM sessions WHERE role = 'referent'"
        " AND created_at > ? AND person_id NOT IN"
        " (SELECT person_id FROM second_factors WHERE confirmed_at IS NOT NULL)",
        (time.time() - RECENT_REFERENT_SECONDS,),
    )
    if unprotected is not None and unprotected[0]:
        alerts.append(
            Alert(
                "warning",
                N_(
                    "Comptes référents sans double authentification (connectés ces 30 derniers "
                    "jours) : %(count)s. Un mot de passe volé suffit à administrer le boîtier."
                ),
                "/compte/double-authentification",
                {"count": unprotected[0]},
            )
        )
    return alerts


class PastDays:
    """The figures' days before today, read once and kept a while (one per process).

    A day that is over no longer changes, but reading 30 of them is most of a
    dashboard's work (a year of history: 13,000 rows of the portal alone). So
    the whole window is read once every :data:`PAST_DAYS_SECONDS` and, in
    between, the features are asked for today only.
    """

    def __init__(self, core: Core) -> None:
        """Start with nothing read."""
        self.today: dt.date | None = None
        self.read_at = 0.0
        self.days: dict[str, dict[str, float]] = {}


PAST_DAYS_SECONDS: Final = 600.0


async def _guarded(name: str, part: Awaitable[Sequence[_T]]) -> Sequence[_T]:
    """Return a feature's figures or alerts; its fault costs its own part, not the page."""
    try:
        return await part
    except Exception:
        _LOGGER.exception("Dashboard part of %s left out", name)
        return ()


async def _figures(core: Core, window: Window, host: HostFigures) -> list[Figure]:
    # Asked together: each part's queries wait in the one DB queue, not one after another.
    parts = await asyncio.gather(
        kernel_figures(host),
        *(
            _guarded(feature.name, feature.figures(core, window))
            for feature in core.features
            if feature.figures is not None
        ),
    )
    return [figure for part in parts for figure in part]


async def collect(
    core: Core, window: Window, host: HostFigures | None = None
) -> tuple[list[Figure], list[Alert]]:
    """Return every figure (kernel first, then features in order) and the alerts, errors first.

    ``host``: the host's figures when the caller already read them (the page shows them too).
    """
    past = core.shared(PastDays)
    if host is None:
        host = await core.executor.run(read_host_figures, core.config.site.data_dir)
    if len(window.days) == 1:  # the nightly note: today only, nothing to keep
        figures = await _figures(core, window, host)
    elif past.today == window.today and 0 <= window.now - past.read_at < PAST_DAYS_SECONDS:
        today_only = Window(window.now, window.zone, (window.today,))
        figures = [
            dataclasses.replace(figure, days=past.days.get(figure.key, {}))
            for figure in await _figures(core, today_only, host)
        ]
    else:
        figures = await _figures(core, window, host)
        today = window.today.isoformat()
        past.today, past.read_at = window.today, window.now
        past.days = {
            figure.key: {day: value for day, value in figure.days.items() if day != today}
            for figure in figures
        }
    parts = await asyncio.gather(
        kernel_alerts(core, host),
        *(
            _guarded(feature.name, feature.alerts(core, window.now))
            for feature in core.features
            if feature.alerts is not None
        ),
    )
    return figures, ordered_alerts(alert for part in parts for alert in part)


async def kept_values(
    core: Core, figures: Sequence[Figure], window: Window
) -> dict[str, dict[str, float]]:
    """Return the nightly values of the kept figures over the window, by key then day."""
    keys = [figure.key for figure in figures if figure.kept]
    if not keys:
        return {}
    marks = ",".join("?" * len(keys))
    rows = await core.db.fetchall(
        f"SELECT key, day, value FROM dashboard_days WHERE key IN ({marks}) AND day >= ?",  # noqa: S608 - marks only
        (*keys, window.first.isoformat()),
    )
    kept: dict[str, dict[str, float]] = {}
    for row in rows:
        kept.setdefault(str(row["key"]), {})[str(row["day"])] = float(row["value"])
    return kept


async def note_kept(core: Core, now: float | None = None) -> int:
    """Note today's value of every kept figure and forget those past retention; return how many."""
    window = Window.ending(time.time() if now is None else now, core.config.site.zone, 1)
    figures, _alerts = await collect(core, window)
    day = window.today.isoformat()
    rows = [(day, f.key, float(f.today)) for f in figures if f.kept and f.today is not None]
    oldest = (window.today - dt.timedelta(days=KEPT_DAYS)).isoformat()
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT INTO dashboard_days (day, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (key, day) DO UPDATE SET value = excluded.value",
            rows,
        )
        await tx.execute("DELETE FROM dashboard_days WHERE day < ?", (oldest,))
    return len(rows)

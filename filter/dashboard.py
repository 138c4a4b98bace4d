"""The filter's part of the referent's dashboard: queries, blocks, requests, lists (#16).

Queries and blocks come from the hourly counters (``filter_counters``, by
group and category, never by address), summed by the school's local day;
the unblock requests waiting are a state the kernel notes nightly. Alerts:
no list loaded (nothing is blocked), a downloaded list not renewed for a
week, requests waiting for the referent.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Final

from appliance.dashboard import Alert, Figure, Window
from appliance.i18n import N_
from filter.config import FilterConfig

if TYPE_CHECKING:
    from appliance.core import Core

# UT1 publishes daily; a list older than this missed a week of updates.
STALE_LIST_DAYS: Final = 8


async def daily_traffic(core: Core, window: Window) -> dict[str, tuple[int, int]]:
    """Return (queries, blocked) by local day over the window."""
    since = window.start().strftime("%Y-%m-%dT%H:00Z")
    rows = await core.db.fetchall(
        "SELECT hour, SUM(queries) AS q, SUM(blocked) AS b FROM filter_counters"
        " WHERE hour >= ? GROUP BY hour",
        (since,),
    )
    days: dict[str, tuple[int, int]] = {}
    for row in rows:
        hour = dt.datetime.fromisoformat(str(row["hour"]).replace("Z", "+00:00"))
        day = window.local_day(hour).isoformat()
        queries, blocked = days.get(day, (0, 0))
        days[day] = (queries + int(row["q"]), blocked + int(row["b"]))
    return days


async def filter_figures(core: Core, window: Window) -> list[Figure]:
    """Return today's queries and blocks with their days, and the requests waiting."""
    traffic = await daily_traffic(core, window)
    today = traffic.get(window.today.isoformat(), (0, 0))
    waiting = await core.db.fetchone(
        "SELECT COUNT(*) FROM filter_unblock_requests WHERE status = 'open'"
    )
    return [
        Figure(
            key="filter.queries",
            label=N_("Requêtes DNS"),
            link="/filtering",
            today=today[0],
            days={day: q for day, (q, _b) in traffic.items()},
            caption=N_("requêtes par jour"),
        ),
        Figure(
            key="filter.blocked",
            label=N_("Requêtes bloquées"),
            link="/filtering",
            today=today[1],
            days={day: b for day, (_q, b) in traffic.items()},
            caption=N_("requêtes bloquées par jour"),
        ),
        Figure(
            key="filter.requests",
            label=N_("Demandes de déblocage en attente"),
            link="/filtering#requests-title",
            today=int(waiting[0]) if waiting else 0,
            kept=True,
            caption=N_("demandes en attente, chaque nuit"),
        ),
    ]


async def filter_alerts(core: Core, now: float) -> list[Alert]:
    """Return what the referent must see about the filter now."""
    section = core.config.section(FilterConfig)
    if not section.enabled:
        return []
    alerts: list[Alert] = []
    lists = await core.db.fetchall("SELECT name, compiled_at FROM filter_lists")
    if not lists:
        alerts.append(
            Alert(
                "error",
                N_("Aucune liste de filtrage n'est chargée : aucun site n'est bloqué."),
                "/filtering",
            )
        )
    downloaded = {source.name for source in section.sources}
    for row in lists:
        if row["name"] not in downloaded:
            continue  # a list the referent loads by hand is renewed by hand
        compiled = dt.datetime.fromisoformat(str(row["compiled_at"]))
        if compiled.tzinfo is None:
            compiled = compiled.replace(tzinfo=dt.UTC)
        age = (now - compiled.timestamp()) / 86400
        if age > STALE_LIST_DAYS:
            alerts.append(
                Alert(
                    "warning",
                    N_("La liste « %(list)s » n'a pas été mise à jour depuis %(days)s jours."),
                    "/filtering",
                    {"list": str(row["name"]), "days": int(age)},
                )
            )
    waiting = await core.db.fetchone(
        "SELECT COUNT(*) FROM filter_unblock_requests WHERE status = 'open'"
    )
    if waiting and waiting[0]:
        alerts.append(
            Alert(
                "warning",
                N_("Demandes de déblocage qui attendent votre réponse : %(count)s."),
                "/filtering#requests-title",
                {"count": int(waiting[0])},
            )
        )
    return alerts

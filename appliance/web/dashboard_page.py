"""The referent's dashboard page: alerts first, then figures with 30-day charts.

The figures and alerts come from :mod:`appliance.dashboard_state`; this
module turns them into what the template draws: each value in the page's
language (« 12 345 », « 5,4 Mo »), each alert's message with its values
named in words (a service, a job: never its id), each chart's bars.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from appliance.dashboard import Alert, Figure, Window, bars, series, summary
from appliance.dashboard_state import collect, kept_values
from appliance.i18n import Gettext, number_text, octets_text
from appliance.scheduler.jobs import builtin_jobs
from appliance.site_status import HostFigures, read_host_figures, services_status
from appliance.web.auth import require_role
from appliance.web.keys import CORE_KEY, LANG_KEY
from appliance.web.rendering import TEMPLATES_KEY, local_time, page, request_gettext

if TYPE_CHECKING:
    from collections.abc import Callable

    from appliance.core import Core

routes = web.RouteTableDef()


def value_text(value: float | None, unit: str, lang: str, _: Gettext) -> str:
    """Return a figure's value as the page's language writes it ("—" when unknown)."""
    if value is None:
        return "—"
    if unit == "bytes":
        return octets_text(value, lang)
    if unit == "percent":
        return f"{number_text(value, lang)}\u00a0%"
    if unit == "days":
        return _("%(count)s j", count=number_text(value, lang))
    return number_text(value, lang)


def _uptime(seconds: float) -> str:
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} j {hours} h"
    return f"{hours} h {rest // 60:02d} min"


def alert_text(alert: Alert, _: Gettext, lang: str, name: Callable[[str, str], str]) -> str:
    """Return an alert's message with its values in words and numbers of the language."""
    values: dict[str, str] = {}
    for key, value in alert.values.items():
        if isinstance(value, tuple):  # (family, id): a service, a job… named in words
            values[key] = name(*value)
        elif isinstance(value, int | float):
            values[key] = number_text(value, lang)
        else:
            values[key] = str(value)
    return _(alert.message, **values)


def tile(
    figure: Figure, window: Window, kept: Mapping[str, float], lang: str, _: Gettext
) -> dict[str, Any]:
    """Return what the template draws of one figure: value, parts, chart, its words."""
    values = series(figure, window, kept)
    total, largest, known = summary(values)
    return {
        "key": figure.key,
        "id": figure.key.replace(".", "-"),
        "label": figure.label,
        "link": figure.link,
        "value": value_text(figure.today, figure.unit, lang, _),
        "parts": [(label, value_text(v, figure.unit, lang, _)) for label, v in figure.parts],
        "caption": figure.caption,
        "bars": [
            {
                "x": b.x,
                "y": b.y,
                "width": b.width,
                "height": b.height,
                "title": f"{b.day.strftime('%d/%m')} : {value_text(b.value, figure.unit, lang, _)}",
            }
            for b in bars(window, values)
        ],
        "largest": value_text(largest, figure.unit, lang, _),
        "known": known,
        "total": value_text(total, figure.unit, lang, _)
        if figure.unit in ("count", "bytes")
        else "",
    }


async def dashboard_context(
    core: Core, lang: str, _: Gettext, now: float, host: HostFigures
) -> dict[str, Any]:
    """Return the dashboard's figures, alerts and job names in ``lang`` at ``now``."""
    window = Window.ending(now, core.config.site.zone)
    figures, alerts = await collect(core, window, host)
    kept = await kept_values(core, figures, window)
    titles = {spec.id: _(spec.title, **spec.title_values) for spec in builtin_jobs(core)}
    return {
        "alerts": alerts,
        "figures": [tile(f, window, kept.get(f.key, {}), lang, _) for f in figures],
        "job_titles": titles,
        "window_first": window.first.strftime("%d/%m"),
    }


@routes.get("/dashboard")
@require_role("referent")
@page("dashboard.html")
async def dashboard(request: web.Request) -> dict[str, Any]:
    """Show what is wrong first, then the figures, the services, the host and the jobs."""
    core = request.app[CORE_KEY]
    lang = request[LANG_KEY]
    _ = request_gettext(request)
    host = await core.executor.run(read_host_figures, core.config.site.data_dir)
    context = await dashboard_context(core, lang, _, time.time(), host)
    labels = cast(Mapping[str, Mapping[str, str]], request.app[TEMPLATES_KEY].globals["labels"])
    titles = context["job_titles"]

    def name(family: str, key: str) -> str:
        if family == "job":
            return str(titles.get(key, key))
        return _(labels.get(family, {}).get(key, key))

    async def panel(template: str, data: Awaitable[Mapping[str, Any]]) -> dict[str, Any]:
        return {"template": template, "data": await data}

    # Asked together: each part's queries wait in the one DB queue, not one after another.
    jobs, audit, services, panels = await asyncio.gather(
        core.db.fetchall(
            "SELECT s.job_id, s.next_run, r.last_success FROM job_schedule s"
            " LEFT JOIN job_runs r ON r.job_id = s.job_id ORDER BY s.next_run"
        ),
        core.audit.recent(10),
        services_status(core),
        asyncio.gather(
            *(
                panel(part.template, part.context(core))
                for feature in core.features
                for part in feature.dashboard
            )
        ),
    )
    # Actors and targets that are people are shown by their names.
    actors = sorted({entry["actor"] for entry in audit} | {entry["target"] for entry in audit})
    marks = ",".join("?" * len(actors))
    names = {
        str(row["id"]): str(row["display_name"])
        for row in await core.db.fetchall(
            f"SELECT id, display_name FROM people WHERE id IN ({marks})",  # noqa: S608 - marks only
            actors,
        )
    }
    return {
        **context,
        "alerts": [
            {"level": a.level, "link": a.link, "text": alert_text(a, _, lang, name)}
            for a in context["alerts"]
        ],
        "services": services,
        "host": host,
        "uptime": _uptime(time.time() - host.process_start),
        "jobs": [
            {
                "title": context["job_titles"].get(row["job_id"], row["job_id"]),
                "next_run": local_time(core, row["next_run"]),
                "last_success": local_time(core, row["last_success"]),
            }
            for row in jobs
        ],
        "audit": [
            {
                **entry,
                "when": local_time(core, entry["at"]),
                "who": names.get(entry["actor"], entry["actor"]),
                "target_name": names.get(entry["target"], ""),
            }
            for entry in audit
        ],
        "panels": list(panels),
        "restore_message": request.query.get("restauration", "")[:300],
    }

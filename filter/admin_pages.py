"""The "Filtrage" admin page: lists, controls in force, explain, unblock requests."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from aiohttp import web

from appliance.i18n import N_
from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY
from appliance.web.rendering import page, say
from filter import state as filtering
from filter.config import FilterConfig

routes = web.RouteTableDef()


@routes.get("/filtering")
@require_role("referent")
@page("filtering.html")
async def filtering_page(request: web.Request) -> dict[str, Any]:
    """Show lists, overrides, policy, today's figures, unblock requests, explain."""
    core = request.app[CORE_KEY]
    config = core.config.section(FilterConfig)
    explained: dict[str, Any] | None = None
    domain = request.query.get("domain", "").strip()
    group = request.query.get("group", "")
    if domain and group:
        from filter.service import explain

        try:
            found = await explain(core, domain, group=group)
            explained = {"decision": found.decision, "error": ""}
        except ValueError as err:
            explained = {"decision": None, "error": say(request, err)}
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    figures = await core.db.fetchall(
        "SELECT group_name, SUM(queries) AS queries, SUM(blocked) AS blocked"
        " FROM filter_counters WHERE hour >= ? GROUP BY group_name ORDER BY group_name",
        (today,),
    )
    now = time.time()
    overrides = [
        {**row.as_json(), "minutes_left": max(0, int(row.expires_at - now) // 60)}
        for row in await filtering.active_overrides(core)
    ]
    return {
        "lists": await filtering.registered_lists(core),
        "overrides": overrides,
        "groups": config.groups,
        "classes": await core.directory.classes(),
        "allowlists": sorted(config.allowlists),
        "figures": figures,
        "requests": await filtering.unblock_requests(core, 50),
        "explained": explained,
        "domain": domain,
        "chosen_group": group,
    }


@routes.post("/filtering/overrides")
@require_role("referent")
async def add_override_form(request: web.Request) -> web.StreamResponse:
    """Add an override from the form."""
    form = await request.post()
    # The picker sends "class:6A", "group:college" or "clients" (then the addresses' field).
    choice = str(form.get("target_choice", ""))
    kind, _, target = choice.partition(":")
    if choice == "clients":
        kind, target = "clients", str(form.get("clients", ""))
    elif not choice:
        kind, target = str(form.get("target_kind", "class")), str(form.get("target", ""))
    try:
        minutes = int(str(form.get("minutes", "")))
        await filtering.add_override(
            request.app[CORE_KEY],
            target_kind=kind,  # type: ignore[arg-type]
            target=target,
            action=str(form.get("action", "")),  # type: ignore[arg-type]
            seconds=minutes * 60,
            domains=[d for d in str(form.get("domains", "")).split() if d],
            allowlist=str(form.get("allowlist", "")),
            reason=str(form.get("reason", "")),
            actor=actor_of(request),
            source=source_of(request),
        )
    except (ValueError, filtering.FilterStateError) as err:
        raise web.HTTPBadRequest(text=say(request, err)) from err
    raise web.HTTPSeeOther("/filtering")


@routes.post("/filtering/overrides/end")
@require_role("referent")
async def end_override_form(request: web.Request) -> web.StreamResponse:
    """End an override from the form."""
    form = await request.post()
    try:
        override_id = int(str(form.get("id", "")))
    except ValueError as err:
        raise web.HTTPBadRequest(
            text=say(request, N_("id : un nombre entier est attendu"))
        ) from err
    await filtering.end_override(
        request.app[CORE_KEY], override_id, actor=actor_of(request), source=source_of(request)
    )
    raise web.HTTPSeeOther("/filtering")


@routes.post("/filtering/requests")
@require_role("referent")
async def answer_request_form(request: web.Request) -> web.StreamResponse:
    """Allow or refuse an unblock request from the form."""
    form = await request.post()
    status = str(form.get("status", ""))
    if status not in ("allowed", "refused"):
        raise web.HTTPBadRequest(text=say(request, N_("status : allowed ou refused")))
    try:
        request_id = int(str(form.get("id", "")))
    except ValueError as err:
        raise web.HTTPBadRequest(
            text=say(request, N_("id : un nombre entier est attendu"))
        ) from err
    await filtering.answer_unblock_request(
        request.app[CORE_KEY],
        request_id,
        status,
        actor=actor_of(request),
        source=source_of(request),
    )
    raise web.HTTPSeeOther("/filtering")

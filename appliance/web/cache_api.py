"""The update cache in the API: its figures and the night pre-staging lists.

The referent (and, once the MDM sync lands, the collectivité's central
team) sends lists of URLs; the cache fetches them in the maintenance window.
"""

from __future__ import annotations

import time

from aiohttp import web

from appliance import cache_admin
from appliance.web.api import API_PREFIX, PlanBody, PrestageRunBody, _body, error
from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY

routes = web.RouteTableDef()


@routes.get(API_PREFIX + "/cache")
@require_role("referent", api=True)
async def cache_figures(request: web.Request) -> web.StreamResponse:
    """Return traffic per day and class, the top objects, the lists and the last runs."""
    core = request.app[CORE_KEY]
    return web.json_response(
        {
            "days": await cache_admin.traffic_by_day(core, 30),
            "classes": await cache_admin.traffic_by_class(core, 30),
            "objects": await cache_admin.top_objects(core, 50),
            "plans": await cache_admin.plans(core),
            "runs": await cache_admin.recent_runs(core),
        }
    )


@routes.put(API_PREFIX + "/cache/prestage/{plan}")
@require_role("referent", api=True)
async def put_plan(request: web.Request) -> web.StreamResponse:
    """Replace a pre-staging list."""
    body = await _body(request, PlanBody)
    if isinstance(body, web.Response):
        return body
    try:
        items = [
            cache_admin.check_item(item.url, item.sha256, f"items.{number}")
            for number, item in enumerate(body.items)
        ]
        count = await cache_admin.set_plan(
            request.app[CORE_KEY], request.match_info["plan"], items,
            actor=actor_of(request), source=source_of(request),
        )  # fmt: skip
    except cache_admin.PrestageError as err:
        return error(422, "invalid", str(err))
    return web.json_response({"plan": request.match_info["plan"], "items": count})


@routes.delete(API_PREFIX + "/cache/prestage/{plan}")
@require_role("referent", api=True)
async def delete_plan(request: web.Request) -> web.StreamResponse:
    """Delete a pre-staging list (its objects are no longer pinned)."""
    plan = request.match_info["plan"]
    known = {p["plan"] for p in await cache_admin.plans(request.app[CORE_KEY])}
    if plan not in known:
        return error(404, "absent", "no such plan")
    await cache_admin.set_plan(
        request.app[CORE_KEY], plan, [], actor=actor_of(request), source=source_of(request)
    )
    return web.json_response({"removed": plan})


@routes.post(API_PREFIX + "/cache/prestage/runs")
@require_role("referent", api=True)
async def request_run(request: web.Request) -> web.StreamResponse:
    """Ask the cache to fetch the lists now (under the WAN budget of the hour)."""
    body = await _body(request, PrestageRunBody)
    if isinstance(body, web.Response):
        return body
    run_id = await cache_admin.request_prestage(
        request.app[CORE_KEY], time.time() + body.hours * 3600
    )
    return web.json_response({"run": run_id}, status=201)

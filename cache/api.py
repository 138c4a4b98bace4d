"""The update cache in the API: its figures and the night pre-staging lists.

The referent (and, once the MDM sync lands, the collectivité's central
team) sends lists of URLs; the cache fetches them in the maintenance window.
"""

from __future__ import annotations

import time

from aiohttp import web
from pydantic import Field

from appliance.i18n import N_
from appliance.web.api_routes import ApiRoutes, Body
from appliance.web.auth import actor_of, source_of
from appliance.web.errors import error
from appliance.web.keys import CORE_KEY
from cache import state as cache_admin
from cache.replies import CacheReply, PlanRemoved, PlanStored, RunRequested

api = ApiRoutes()


class PrestageItemBody(Body):
    """One URL to fetch at night, with the publisher's SHA-256 if known."""

    url: str = Field(min_length=8, max_length=2000)
    sha256: str = Field("", max_length=64)


class PlanBody(Body):
    """A pre-staging list: it replaces the plan's URLs (an empty list deletes the plan)."""

    items: list[PrestageItemBody] = Field(max_length=5000)


class PrestageRunBody(Body):
    """Fetch the lists now, for at most this many hours."""

    hours: float = Field(4.0, gt=0, le=12)


@api.get(
    "/cache",
    "Update cache: traffic per day and class, top objects, plans.",
    response=CacheReply,
)
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


@api.put(
    "/cache/prestage/{plan}", "Replace a pre-staging list.", body=PlanBody, response=PlanStored
)
async def put_plan(request: web.Request, body: PlanBody) -> web.StreamResponse:
    """Replace a pre-staging list."""
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
        return error(422, "invalid", err)
    return web.json_response({"plan": request.match_info["plan"], "items": count})


@api.delete("/cache/prestage/{plan}", "Delete a pre-staging list.", response=PlanRemoved)
async def delete_plan(request: web.Request) -> web.StreamResponse:
    """Delete a pre-staging list (its objects are no longer pinned)."""
    plan = request.match_info["plan"]
    known = {p["plan"] for p in await cache_admin.plans(request.app[CORE_KEY])}
    if plan not in known:
        return error(404, "absent", N_("Aucune liste de pré-chargement de ce nom."))
    await cache_admin.set_plan(
        request.app[CORE_KEY], plan, [], actor=actor_of(request), source=source_of(request)
    )
    return web.json_response({"removed": plan})


@api.post(
    "/cache/prestage/runs",
    "Fetch the lists now.",
    body=PrestageRunBody,
    success=201,
    response=RunRequested,
)
async def request_run(request: web.Request, body: PrestageRunBody) -> web.StreamResponse:
    """Ask the cache to fetch the lists now (under the WAN budget of the hour)."""
    run_id = await cache_admin.request_prestage(
        request.app[CORE_KEY], time.time() + body.hours * 3600
    )
    return web.json_response({"run": run_id}, status=201)

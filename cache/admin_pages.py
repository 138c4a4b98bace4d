"""The "Cache des mises à jour" admin page: bandwidth saved, per class, top objects.

Figures come from the state DB (``cache_admin``), written by the cache
service. The chart is an SVG drawn here, with the same figures in a table
next to it (RGAA: a graphic needs a text alternative), and no script.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from typing import Any, Final

from aiohttp import web

from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY
from appliance.web.rendering import page, say, size_text
from cache import selftest as cache_selftest
from cache import state as cache_admin
from cache.config import CacheConfig
from filter.config import FilterConfig

routes = web.RouteTableDef()

CHART_WIDTH: Final = 600
CHART_HEIGHT: Final = 160


def _when(at: float | None, zone: Any) -> str:
    if not at:
        return ""
    return dt.datetime.fromtimestamp(at, zone).strftime("%d/%m/%Y %H:%M")


def saved_chart(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one bar per day (x, y, width, height in the SVG's units) for bytes saved."""
    peak = max((d["served"] for d in days), default=0) or 1
    width = CHART_WIDTH / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        served = day["served"] * (CHART_HEIGHT - 20) / peak
        saved = day["saved"] * (CHART_HEIGHT - 20) / peak
        bars.append(
            {
                "day": day["day"],
                "x": round(index * width + 1, 1),
                "width": round(max(width - 2, 1), 1),
                "served_y": round(CHART_HEIGHT - served, 1),
                "served_h": round(served, 1),
                "saved_y": round(CHART_HEIGHT - saved, 1),
                "saved_h": round(saved, 1),
            }
        )
    return bars


@routes.get("/cache")
@require_role("referent")
@page("cache.html")
async def cache_page(request: web.Request) -> dict[str, Any]:
    """Show what the cache saved, per day and per class, and the objects used most."""
    core = request.app[CORE_KEY]
    days = await cache_admin.traffic_by_day(core, 30)
    served = sum(d["served"] for d in days)
    fetched = sum(d["fetched"] for d in days)
    classes = await cache_admin.traffic_by_class(core, 30)
    objects = await cache_admin.top_objects(core, 20)
    steering = core.config.section(FilterConfig).cache_steering
    listen = core.config.section(CacheConfig).listen
    zone = core.config.site.zone
    runs = [
        {
            **r,
            "when": _when(r["finished_at"] or r["started_at"] or r["requested_at"], zone),
            "fetched_text": size_text(r["fetched_bytes"]),
        }
        for r in await cache_admin.recent_runs(core)
    ]
    apple = await cache_admin.apple_cache_signals(core)
    registered = apple.get("registration", {})
    return {
        "apple_registered": _when(registered.get("last_seen"), zone) if registered else "",
        "apple_lookups": int(apple.get("lookup", {}).get("count", 0)),
        "plans": [
            {**p, "bytes_text": size_text(int(p["bytes"] or 0))}
            for p in await cache_admin.plans(core)
        ],
        "runs": runs,
        "message": request.query.get("message", ""),
        "enabled": core.config.section(CacheConfig).enabled,
        "steering": steering,
        "listen": listen,
        "pac_url": f"http://{listen[0]}/proxy.pac" if listen else "",
        "served": size_text(served),
        "fetched": size_text(fetched),
        "saved": size_text(max(0, served - fetched)),
        "ratio": f"{(1 - fetched / served) * 100:.0f} %" if served else "—",
        "days": [
            {**d, "served_text": size_text(d["served"]), "saved_text": size_text(d["saved"])}
            for d in days
        ],
        "bars": saved_chart(days),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "classes": [
            {
                **c,
                "served_text": size_text(c["served"]),
                "fetched_text": size_text(c["fetched"]),
                "ratio_text": f"{c['hit_ratio'] * 100:.0f} %",
            }
            for c in classes
        ],
        "objects": [
            {
                **o,
                "length_text": size_text(o["length"]),
                "served_text": size_text(o["served_bytes"]),
                "present": f"{o['present_bytes'] * 100 // max(o['length'], 1)} %",
            }
            for o in objects
        ],
    }


@routes.post("/cache/prestage")
@require_role("referent")
async def plan_form(request: web.Request) -> web.StreamResponse:
    """Replace a pre-staging list from the form (one URL per line, then its SHA-256)."""
    form = await request.post()
    try:
        items = cache_admin.parse_plan_text(str(form.get("urls", "")))
        await cache_admin.set_plan(
            request.app[CORE_KEY], str(form.get("plan", "")).strip(), items,
            actor=actor_of(request), source=source_of(request),
        )  # fmt: skip
    except cache_admin.PrestageError as err:
        quoted = urllib.parse.quote(say(request, err)[:300])
        raise web.HTTPSeeOther(f"/cache?message={quoted}#prestage-title") from None
    raise web.HTTPSeeOther("/cache?message=saved#prestage-title")


@routes.post("/cache/prestage/run")
@require_role("referent")
async def run_form(request: web.Request) -> web.StreamResponse:
    """Fetch the lists now, for four hours at most."""
    await cache_admin.request_prestage(request.app[CORE_KEY], time.time() + 4 * 3600)
    raise web.HTTPSeeOther("/cache?message=requested#prestage-title")


@routes.post("/cache/verifier")
@require_role("referent")
@page("cache_check.html")
async def check_form(request: web.Request) -> dict[str, Any]:
    """Check, as a device would, that the cache is reachable the ways configured."""
    core = request.app[CORE_KEY]
    checks = await core.executor.run(cache_selftest.run_checks, core.config)
    return {"checks": checks, "all_ok": all(c.ok for c in checks)}

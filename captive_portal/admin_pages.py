"""The "Wi-Fi invité·es" admin page: live sessions (kick, extend), guest vouchers
(printable once), charter versions, per-role rules, usage export and alerts,
and the DHCP device inventory. Everything goes through ``portal_admin``; the
privileged portal process applies it to the kernel within a second."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from appliance.csv_export import csv_text
from appliance.i18n import N_
from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY
from appliance.web.rendering import page, render, say
from captive_portal import state as portal_admin
from captive_portal.config import PortalConfig

routes = web.RouteTableDef()


def megabytes(count: int) -> str:
    """Return a byte count in MB with one decimal (French comma)."""
    return f"{count / 1_000_000:.1f}".replace(".", ",") + " Mo"


def _when(core: Any, at: float | None) -> str:
    if not at:
        return ""
    local = dt.datetime.fromtimestamp(at, core.config.site.zone)
    return local.strftime("%d/%m/%Y %H:%M")


@routes.get("/portal")
@require_role("referent")
@page("portal.html")
async def portal_page(request: web.Request) -> dict[str, Any]:
    """Show sessions, vouchers, charter, role rules, usage and the DHCP inventory."""
    core = request.app[CORE_KEY]
    sessions = await portal_admin.live_sessions(core)
    for session in sessions:
        seconds = session["seconds_left"]
        session["left"] = f"{seconds // 3600} h {seconds % 3600 // 60:02d}"
        session["today"] = megabytes(
            sum(d["up_bytes"] + d["down_bytes"] for d in session["devices"])
        )
    charter = await portal_admin.current_charter(core)
    history = [
        {
            "version": c.version,
            "created": _when(core, c.created_at),
            "created_by": c.created_by,
            "accepted": await portal_admin.acceptances(core, c.version),
        }
        for c in await portal_admin.charters(core)
    ]
    vouchers = [
        {**v, "created": _when(core, v["created_at"]), "used": _when(core, v["first_used_at"])}
        for v in await portal_admin.vouchers(core, 100)
    ]
    alerts = [{**a, "amount": megabytes(a["bytes"])} for a in await portal_admin.alerts(core, 50)]
    devices = [
        {**d, "seen": _when(core, d["last_seen"])}
        for d in await portal_admin.dhcp_devices(core, 200)
    ]
    return {
        "enabled": core.config.section(PortalConfig).enabled,
        "sessions": sessions,
        "charter": charter,
        "charter_accepted": await portal_admin.acceptances(core, charter.version),
        "history": history,
        "vouchers": vouchers,
        "roles": await portal_admin.role_settings(core),
        "retention": core.config.section(PortalConfig).usage_retention_days,
        "alerts": alerts,
        "devices": devices,
        "today": portal_admin.local_day(core),
    }


@routes.post("/portal/kick")
@require_role("referent")
async def kick_form(request: web.Request) -> web.StreamResponse:
    """Log an account out of every device."""
    form = await request.post()
    await portal_admin.end_session(
        request.app[CORE_KEY],
        str(form.get("user", "")),
        actor=actor_of(request),
        source=source_of(request),
    )
    raise web.HTTPSeeOther("/portal")


@routes.post("/portal/extend")
@require_role("referent")
async def extend_form(request: web.Request) -> web.StreamResponse:
    """Give a session one more hour."""
    form = await request.post()
    await portal_admin.extend_session(
        request.app[CORE_KEY],
        str(form.get("user", "")),
        60,
        actor=actor_of(request),
        source=source_of(request),
    )
    raise web.HTTPSeeOther("/portal")


@routes.post("/portal/vouchers")
@require_role("referent")
async def vouchers_form(request: web.Request) -> web.StreamResponse:
    """Create vouchers and show them once, ready to print."""
    form = await request.post()
    try:
        minutes = int(str(form.get("minutes", "")))
        created = await portal_admin.create_vouchers(
            request.app[CORE_KEY],
            count=int(str(form.get("count", ""))),
            minutes=minutes,
            max_devices=int(str(form.get("max_devices", "1"))),
            valid_days=int(str(form.get("valid_days", "7"))),
            label=str(form.get("label", "")),
            actor=actor_of(request),
            source=source_of(request),
        )
    except (ValueError, portal_admin.PortalStateError) as err:
        raise web.HTTPBadRequest(text=say(request, err)) from err
    response = render(
        request,
        "portal_vouchers.html",
        {"codes": created, "minutes": minutes, "label": str(form.get("label", ""))[:100]},
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post("/portal/vouchers/revoke")
@require_role("referent")
async def revoke_form(request: web.Request) -> web.StreamResponse:
    """Revoke a voucher (and end its guest session)."""
    form = await request.post()
    try:
        voucher_id = int(str(form.get("id", "")))
    except ValueError as err:
        raise web.HTTPBadRequest(
            text=say(request, N_("id : un nombre entier est attendu"))
        ) from err
    await portal_admin.revoke_voucher(
        request.app[CORE_KEY], voucher_id, actor=actor_of(request), source=source_of(request)
    )
    raise web.HTTPSeeOther("/portal")


@routes.post("/portal/charter")
@require_role("referent")
async def charter_form(request: web.Request) -> web.StreamResponse:
    """Publish a new charter version."""
    form = await request.post()
    try:
        await portal_admin.publish_charter(
            request.app[CORE_KEY],
            version=str(form.get("version", "")),
            text=str(form.get("text", "")),
            actor=actor_of(request),
            source=source_of(request),
        )
    except portal_admin.PortalStateError as err:
        raise web.HTTPBadRequest(text=say(request, err)) from err
    raise web.HTTPSeeOther("/portal")


@routes.post("/portal/roles")
@require_role("referent")
async def roles_form(request: web.Request) -> web.StreamResponse:
    """Change one role's rules from its form (empty quota or rate: none)."""
    form = await request.post()

    def optional_int(key: str) -> int | None:
        text = str(form.get(key, "")).strip()
        return int(text) if text else None

    try:
        changes: dict[str, Any] = {
            "hard_minutes": float(str(form.get("hard_minutes", ""))),
            "idle_minutes": float(str(form.get("idle_minutes", ""))),
            "ends_with_school_day": form.get("ends_with_school_day") == "on",
            "max_devices": int(str(form.get("max_devices", ""))),
            "concurrent": str(form.get("concurrent", "")),
            "daily_quota_mb": optional_int("daily_quota_mb"),
            "rate_kbytes": optional_int("rate_kbytes"),
        }
        await portal_admin.set_role_settings(
            request.app[CORE_KEY],
            str(form.get("role", "")),
            changes,
            actor=actor_of(request),
            source=source_of(request),
        )
    except (ValueError, portal_admin.PortalStateError) as err:
        raise web.HTTPBadRequest(text=say(request, err)) from err
    raise web.HTTPSeeOther("/portal")


def usage_csv(rows: list[dict[str, Any]], per_device: bool) -> str:
    """Return usage rows as CSV (one header line)."""
    columns = ["day", "user", "mac" if per_device else "devices", "up_bytes", "down_bytes"]
    return csv_text(columns, ([row[c] for c in columns] for row in rows))


def usage_range(first: dt.date | None, last: dt.date | None, core: Any) -> tuple[str, str]:
    """Return the (first, last) local days asked for, defaulting to the last 30 days."""
    today = dt.date.fromisoformat(portal_admin.local_day(core))
    first = first or today - dt.timedelta(days=30)
    last = last or today
    return first.isoformat(), last.isoformat()


def _day(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError as err:
        raise portal_admin.PortalStateError(
            N_("from/to : une date AAAA-MM-JJ est attendue")
        ) from err


@routes.get("/portal/usage.csv")
@require_role("referent")
async def usage_export(request: web.Request) -> web.StreamResponse:
    """Download usage as CSV (?per=device for per-device rows)."""
    core = request.app[CORE_KEY]
    try:
        first, last = usage_range(
            _day(request.query.get("from")), _day(request.query.get("to")), core
        )
    except portal_admin.PortalStateError as err:
        raise web.HTTPBadRequest(text=say(request, err)) from err
    per_device = request.query.get("per") == "device"
    rows = await portal_admin.usage(core, first, last, per_device=per_device)
    return web.Response(
        text=usage_csv(rows, per_device),
        content_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="preau-wifi-{first}-{last}.csv"',
            "Cache-Control": "no-store",
        },
    )

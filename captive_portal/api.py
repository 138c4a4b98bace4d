"""The portal's JSON API: live sessions, vouchers, charters, usage, roles' rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Literal

from aiohttp import web
from pydantic import Field

from appliance.i18n import N_
from appliance.web.api_routes import ApiRoutes, Body, Query, Reply, changes_body, parsed_query
from appliance.web.auth import actor_of, source_of
from appliance.web.errors import error
from appliance.web.keys import CORE_KEY
from captive_portal import carts
from captive_portal import state as portal_admin
from captive_portal.replies import (
    AlertsReply,
    Charter,
    ChartersReply,
    DevicesReply,
    NewVouchersReply,
    RolesReply,
    SessionEnded,
    SessionExtended,
    SessionsReply,
    UsageReply,
    VoucherRevoked,
    VouchersReply,
)

api = ApiRoutes()


class ExtendBody(Body):
    """More time for an open portal session."""

    minutes: int = Field(ge=1, le=24 * 60)


class VouchersBody(Body):
    """Guest vouchers to create (the codes are returned once)."""

    count: int = Field(ge=1, le=200)
    minutes: int = Field(ge=1, le=7 * 1440)
    max_devices: int = Field(1, ge=1, le=5)
    valid_days: int = Field(7, ge=1, le=365)
    label: str = Field("", max_length=100)


RoleBody = changes_body(
    portal_admin.PortalRoleConfig,
    "RoleBody",
    "Changes to one role's Wi-Fi rules (only the keys sent change; null clears).",
)


class CharterBody(Body):
    """A new charter version (#7.48, #7.49)."""

    version: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    text: str = Field(min_length=1, max_length=20_000)


class UsageQuery(Query):
    """Which days, per account or per device, JSON or CSV."""

    from_: dt.date | None = Field(
        None, alias="from", description="First day (default: 30 days ago)."
    )
    to: dt.date | None = Field(None, description="Last day (default: today).")
    per: Literal["account", "device"] = Field("account", description="Rows per account or device.")
    format: Literal["json", "csv"] = Field("json", description="csv for a spreadsheet file.")


@api.get("/portal/sessions", "Wi-Fi portal sessions with their devices.", response=SessionsReply)
async def portal_sessions(request: web.Request) -> web.StreamResponse:
    """List open Wi-Fi sessions."""
    return web.json_response({"sessions": await portal_admin.live_sessions(request.app[CORE_KEY])})


@api.delete(
    "/portal/sessions/{user}",
    "Log an account out of the Wi-Fi (kick).",
    response=SessionEnded,
)
async def portal_kick(request: web.Request) -> web.StreamResponse:
    """Log an account out of every device."""
    user = request.match_info["user"]
    ended = await portal_admin.end_session(
        request.app[CORE_KEY], user, actor=actor_of(request), source=source_of(request)
    )
    if not ended:
        return error(404, "absent", N_("Aucune session Wi-Fi ouverte pour ce compte."))
    return web.json_response({"ended": user})


@api.post(
    "/portal/sessions/{user}/extend",
    "Give a Wi-Fi session more time.",
    body=ExtendBody,
    response=SessionExtended,
)
async def portal_extend(request: web.Request, body: ExtendBody) -> web.StreamResponse:
    """Give a session more time."""
    user = request.match_info["user"]
    ends_at = await portal_admin.extend_session(
        request.app[CORE_KEY],
        user,
        body.minutes,
        actor=actor_of(request),
        source=source_of(request),
    )
    if ends_at is None:
        return error(404, "absent", N_("Aucune session Wi-Fi ouverte pour ce compte."))
    return web.json_response({"user": user, "ends_at": ends_at})


@api.get("/portal/vouchers", "Guest vouchers (never their codes).", response=VouchersReply)
async def portal_vouchers(request: web.Request) -> web.StreamResponse:
    """List vouchers."""
    return web.json_response({"vouchers": await portal_admin.vouchers(request.app[CORE_KEY])})


@api.post(
    "/portal/vouchers",
    "Create guest vouchers; the codes are in this answer only.",
    body=VouchersBody,
    success=201,
    response=NewVouchersReply,
)
async def portal_create_vouchers(request: web.Request, body: VouchersBody) -> web.StreamResponse:
    """Create vouchers; their codes are returned here only."""
    created = await portal_admin.create_vouchers(
        request.app[CORE_KEY],
        count=body.count,
        minutes=body.minutes,
        max_devices=body.max_devices,
        valid_days=body.valid_days,
        label=body.label,
        actor=actor_of(request),
        source=source_of(request),
    )
    return web.json_response(
        {"vouchers": [{"id": i, "code": code} for i, code in created]},
        status=201,
        headers={"Cache-Control": "no-store"},
    )


@api.delete("/portal/vouchers/{voucher_id}", "Revoke a voucher.", response=VoucherRevoked)
async def portal_revoke_voucher(request: web.Request) -> web.StreamResponse:
    """Revoke a voucher."""
    try:
        voucher_id = int(request.match_info["voucher_id"])
    except ValueError:
        return error(422, "invalid", N_("voucher_id : un nombre entier est attendu"))
    revoked = await portal_admin.revoke_voucher(
        request.app[CORE_KEY], voucher_id, actor=actor_of(request), source=source_of(request)
    )
    if not revoked:
        return error(404, "absent", N_("Aucun ticket en cours de validité sous ce numéro."))
    return web.json_response({"revoked": voucher_id})


@api.get("/portal/charters", "Charter versions, newest first.", response=ChartersReply)
async def portal_charters(request: web.Request) -> web.StreamResponse:
    """List charter versions with how many accepted each."""
    core = request.app[CORE_KEY]
    current = await portal_admin.current_charter(core)
    versions = await portal_admin.charters(core) or [current]
    return web.json_response(
        {
            "current": current.version,
            "charters": [
                {
                    **asdict(c),
                    "accepted": await portal_admin.acceptances(core, c.version),
                }
                for c in versions
            ],
        }
    )


@api.post(
    "/portal/charters",
    "Publish a charter version.",
    body=CharterBody,
    success=201,
    response=Charter,
)
async def portal_publish_charter(request: web.Request, body: CharterBody) -> web.StreamResponse:
    """Publish a charter version."""
    try:
        charter = await portal_admin.publish_charter(
            request.app[CORE_KEY],
            version=body.version,
            text=body.text,
            actor=actor_of(request),
            source=source_of(request),
        )
    except portal_admin.PortalStateError as err:
        return error(422, "invalid", err)
    return web.json_response(asdict(charter), status=201)


@api.get(
    "/portal/usage",
    "Wi-Fi usage (?from=&to= days, ?per=device|account, ?format=csv).",
    query=UsageQuery,
    response=UsageReply,
)
async def portal_usage(request: web.Request) -> web.StreamResponse:
    """Export usage per account and day, or per device; JSON or CSV."""
    from captive_portal.admin_pages import usage_csv, usage_range

    asked = parsed_query(request, UsageQuery)
    core = request.app[CORE_KEY]
    try:
        first, last = usage_range(asked.from_, asked.to, core)
    except portal_admin.PortalStateError as err:
        return error(422, "invalid", err)
    per_device = asked.per == "device"
    rows = await portal_admin.usage(core, first, last, per_device=per_device)
    if asked.format == "csv":
        return web.Response(
            text=usage_csv(rows, per_device),
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="preau-wifi.csv"'},
        )
    return web.json_response({"from": first, "to": last, "usage": rows})


@api.get("/portal/alerts", "Accounts past the daily usage threshold.", response=AlertsReply)
async def portal_alerts(request: web.Request) -> web.StreamResponse:
    """List usage alerts."""
    return web.json_response({"alerts": await portal_admin.alerts(request.app[CORE_KEY])})


@api.get("/portal/devices", "Devices seen by the BYOD DHCP server.", response=DevicesReply)
async def portal_devices(request: web.Request) -> web.StreamResponse:
    """List the DHCP inventory."""
    return web.json_response({"devices": await portal_admin.dhcp_devices(request.app[CORE_KEY])})


class BatteryBody(Body):
    """What an MDM reports about a cart device."""

    battery: int = Field(ge=0, le=100, description="Battery level, per cent.")


class BatteryKept(Reply):
    """The report was kept."""

    mac: str
    battery: int


@api.put(
    "/portal/carts/devices/{mac}",
    "An MDM reports a cart device's battery (shown on the teacher's page).",
    body=BatteryBody,
    response=BatteryKept,
)
async def cart_battery(request: web.Request, body: BatteryBody) -> web.StreamResponse:
    """Keep a cart device's battery level; refuse a device that is no cart's."""
    mac = request.match_info["mac"]
    try:
        await carts.record_battery(request.app[CORE_KEY], mac, body.battery)
    except carts.CartReportError as err:
        return error(422, "invalid", err)
    return web.json_response({"mac": mac.lower().replace("-", ":"), "battery": body.battery})


@api.get(
    "/portal/roles",
    "Wi-Fi rules per role (preau.toml plus UI changes).",
    response=RolesReply,
)
async def portal_roles(request: web.Request) -> web.StreamResponse:
    """List each role's Wi-Fi rules."""
    roles = await portal_admin.role_settings(request.app[CORE_KEY])
    return web.json_response({name: role.model_dump() for name, role in roles.items()})


@api.post(
    "/portal/roles/{role}",
    "Change some of a role's Wi-Fi rules.",
    body=RoleBody,
    response=portal_admin.PortalRoleConfig,
)
async def portal_set_role(request: web.Request, body: Body) -> web.StreamResponse:
    """Change some of a role's rules."""
    changes = {key: getattr(body, key) for key in body.model_fields_set}
    required = ("hard_minutes", "idle_minutes", "ends_with_school_day", "max_devices")
    for key in (*required, "concurrent"):
        if key in changes and changes[key] is None:
            return error(422, "invalid", N_("%(key)s : ne peut pas être vide"), key=key)
    try:
        updated = await portal_admin.set_role_settings(
            request.app[CORE_KEY],
            request.match_info["role"],
            changes,
            actor=actor_of(request),
            source=source_of(request),
        )
    except portal_admin.PortalStateError as err:
        return error(422, "invalid", err)
    return web.json_response(updated.model_dump())

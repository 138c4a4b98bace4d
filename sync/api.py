"""The link with the centre in the API: its state, enrolment, the site report and its schema."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from aiohttp import web
from pydantic import Field

from appliance.i18n import N_
from appliance.web.api_routes import ApiRoutes, Body, Reply
from appliance.web.auth import actor_of, source_of
from appliance.web.errors import error
from appliance.web.keys import CORE_KEY
from appliance.web.rendering import say
from sync.config import SyncConfig
from sync.credentials import CredentialError
from sync.device_export import DeviceExportError, Export, export_for
from sync.device_profiles import APPLE_MEDIA_TYPE
from sync.inventory import glpi_inventory
from sync.link import LinkError, enrol, rotate_key
from sync.pra import read_pra, request_restore
from sync.report import SiteReport
from sync.service import site_report
from sync.state import LinkState, ask_check, read_link, spool_size
from sync.telemetry import openmetrics
from sync.trust import PolicyFetchError

api = ApiRoutes()


class SettingReply(Reply):
    """One key the centre sets, what the box uses and why."""

    key: str
    value: Any
    origin: str
    locked: bool
    winner: str
    local_value: Any


class CentralAppReply(Reply):
    """An app the centre hands to this school's store, and why the store refused it."""

    name: str
    platform: str
    version: str
    origin: str
    problem: str


class LinkReply(Reply):
    """The box's link with its centre."""

    enrolled: bool
    box_id: str
    uai: str
    revoked: bool
    last_exchange_at: float
    policy_version: int
    policy_origins: list[str]
    policy_applied_at: float
    policy_stale: bool
    applying: bool
    time_trusted: bool
    spool_reports: int
    spool_bytes: int
    spool_dropped_total: int
    problem: str
    settings: list[SettingReply]
    central_apps: list[CentralAppReply]


class EnrolBody(Body):
    """The token the central team gave for this school."""

    token: str = Field(min_length=1, max_length=4096)


async def link_reply(request: web.Request, link: LinkState) -> dict[str, Any]:
    """Return the link's state as the API and the page show it."""
    reports, size = await spool_size(request.app[CORE_KEY].db)
    problems = [
        say(request, message, **values)
        for message, values in (
            (link.last_error, link.last_error_values),
            (link.policy_problem, link.policy_problem_values),
        )
        if message
    ]
    problem = " ; ".join(problems)
    return {
        "enrolled": link.enrolled,
        "box_id": link.box_id,
        "uai": link.uai,
        "revoked": link.revoked,
        "last_exchange_at": link.last_exchange_at,
        "policy_version": link.policy_version,
        "policy_origins": link.policy_origins,
        "policy_applied_at": link.policy_applied_at,
        "policy_stale": link.policy_stale,
        "applying": bool(link.pending),
        "time_trusted": link.time_trusted,
        "spool_reports": reports,
        "spool_bytes": size,
        "spool_dropped_total": link.spool_dropped_total,
        "problem": problem,
        "settings": [
            {**setting, "local_value": setting.get("local_value")}
            for setting in link.policy_settings
        ],
        "central_apps": [
            {
                "name": app["name"],
                "platform": app["platform"],
                "version": app["version"],
                "origin": app["origin"],
                "problem": say(request, app["problem"], **app["problem_values"])
                if app["problem"]
                else "",
            }
            for app in link.central_apps
        ],
    }


class ReplacementReply(Reply):
    """The nightly replacement backup and a restore asked by this box (« PRA »)."""

    centre_key_published: bool
    backup_at: float
    backup_bytes: int
    restore_requested_at: float
    restored_at: float
    outcome: str


async def replacement_reply(request: web.Request) -> dict[str, Any]:
    """Return the replacement backup's state as the API and the page show it."""
    core = request.app[CORE_KEY]
    state = await read_pra(core)
    link = await read_link(core.db)
    outcome = ""
    if state.restore_outcome:
        outcome = say(request, state.restore_outcome, **(state.restore_values or {}))
    return {
        "centre_key_published": bool(link.pra_recipient),
        "backup_at": state.backup_at,
        "backup_bytes": state.backup_bytes,
        "restore_requested_at": state.restore_requested_at,
        "restored_at": state.restored_at,
        "outcome": outcome,
    }


@api.get(
    "/sync/replacement",
    "The nightly replacement backup sent to the centre, and a restore in progress.",
    response=ReplacementReply,
)
async def get_replacement(request: web.Request) -> web.StreamResponse:
    """Return the replacement backup's state."""
    return web.json_response(await replacement_reply(request))


@api.post(
    "/sync/replacement/request",
    "Ask the centre for the school's latest replacement backup (this box replaces a dead one).",
    response=ReplacementReply,
)
async def post_replacement_request(request: web.Request) -> web.StreamResponse:
    """Ask for the school's latest backup; it is restored once the central team releases it."""
    core = request.app[CORE_KEY]
    if not (await read_link(core.db)).enrolled:
        return error(409, "absent", N_("ce boîtier n'est inscrit auprès d'aucun centre"))
    try:
        await request_restore(core, actor_of(request), source_of(request))
    except (LinkError, CredentialError) as err:
        return error(502, "centre", err)
    await ask_check(core.db)
    return web.json_response(await replacement_reply(request))


@api.get("/sync/link", "The link with the collectivité's centre.", response=LinkReply)
async def get_link(request: web.Request) -> web.StreamResponse:
    """Return the link's state."""
    link = await read_link(request.app[CORE_KEY].db)
    return web.json_response(await link_reply(request, link))


@api.post(
    "/sync/enrol", "Enrol the box with a token from the centre.", body=EnrolBody, response=LinkReply
)
async def post_enrol(request: web.Request, body: EnrolBody) -> web.StreamResponse:
    """Enrol with a token (used once, for this school, within 72 h)."""
    core = request.app[CORE_KEY]
    try:
        link = await enrol(core, body.token, actor_of(request), source_of(request))
    except CredentialError as err:
        return error(422, "invalid", err)
    except (LinkError, PolicyFetchError) as err:
        return error(502, "centre", err)
    return web.json_response(await link_reply(request, link))


@api.post("/sync/rotate", "Give the box a new key pair (no new enrolment).", response=LinkReply)
async def post_rotate(request: web.Request) -> web.StreamResponse:
    """Rotate the box's key."""
    core = request.app[CORE_KEY]
    if not (await read_link(core.db)).enrolled:
        return error(409, "absent", N_("ce boîtier n'est inscrit auprès d'aucun centre"))
    try:
        link = await rotate_key(core, actor_of(request), source_of(request))
    except LinkError as err:
        return error(502, "centre", err)
    return web.json_response(await link_reply(request, link))


@api.post("/sync/check", "Ask the link to read the centre now.", response=LinkReply)
async def post_check(request: web.Request) -> web.StreamResponse:
    """Wake the sync service (it reads the centre at once)."""
    core = request.app[CORE_KEY]
    link = await read_link(core.db)
    if not link.enrolled:
        return error(409, "absent", N_("ce boîtier n'est inscrit auprès d'aucun centre"))
    await ask_check(core.db)
    return web.json_response(await link_reply(request, link))


@api.get(
    "/sync/report", "The site report the centre receives (no pupil data).", response=SiteReport
)
async def get_report(request: web.Request) -> web.StreamResponse:
    """Return the site report now (for MDMs that pull)."""
    core = request.app[CORE_KEY]
    link = await read_link(core.db)
    report = await site_report(core, link, time.time())
    return web.json_response(report.model_dump(mode="json", by_alias=True))


@api.get(
    "/sync/report-schema",
    "The site report's JSON Schema.",
    roles=None,
    media="application/schema+json",
)
async def get_report_schema(request: web.Request) -> web.StreamResponse:
    """Return the JSON Schema of ``preau.site-report/1``."""
    return web.json_response(
        SiteReport.model_json_schema(by_alias=True), content_type="application/schema+json"
    )


@api.get(
    "/sync/openmetrics",
    "The site's figures for the central Prometheus (Authorization: Bearer; OpenMetrics).",
    roles=None,
    media="application/openmetrics-text",
)
async def get_openmetrics(request: web.Request) -> web.StreamResponse:
    """Serve the site report's figures to a scraper holding the configured token."""
    core = request.app[CORE_KEY]
    expected = core.config.section(SyncConfig).telemetry.scrape_bearer_sha256
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    digest = hashlib.sha256(offered.encode()).hexdigest()
    if not expected or not offered or not hmac.compare_digest(digest, expected):
        return error(401, "unauthorized", N_("jeton de collecte absent ou refusé"))
    report = await site_report(core, await read_link(core.db), time.time())
    return web.Response(
        body=openmetrics(report),
        headers={"Content-Type": "application/openmetrics-text; version=1.0.0; charset=utf-8"},
    )


class AndroidPolicyReply(Reply):
    """Android Management API policy fields: the school's Wi-Fi and CA (ONC), the PAC."""

    open_network_configuration: dict[str, Any] | None = Field(
        None, alias="openNetworkConfiguration"
    )
    recommended_global_proxy: dict[str, str] | None = Field(None, alias="recommendedGlobalProxy")


class OmaSettingReply(Reply):
    """One OMA-URI setting (Microsoft Graph ``omaSettingString``)."""

    odata_type: str = Field(alias="@odata.type")
    display_name: str = Field(alias="displayName")
    description: str
    oma_uri: str = Field(alias="omaUri")
    value: str


class WindowsPolicyReply(Reply):
    """A Windows custom configuration (Microsoft Graph ``windows10CustomConfiguration``)."""

    odata_type: str = Field(alias="@odata.type")
    display_name: str = Field(alias="displayName")
    description: str
    oma_settings: list[OmaSettingReply] = Field(alias="omaSettings")


async def _device_profile(request: web.Request, kind: str) -> web.StreamResponse:
    core = request.app[CORE_KEY]
    try:
        export = await export_for(
            core, kind, str(request.url.origin()), actor_of(request), source_of(request)
        )
    except DeviceExportError as err:
        return error(422, "invalid", err.problem)
    return export_response(export)


def export_response(export: Export) -> web.Response:
    """Send an export as a file to import (the page's download and the API's answer)."""
    return web.Response(
        body=export.body,
        headers={
            "Content-Type": export.media_type,
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",  # it may hold the Wi-Fi passphrase
        },
    )


@api.get(
    "/sync/device-profiles/apple",
    "The Apple configuration profile for the MDM (signed when a certificate is set).",
    media=APPLE_MEDIA_TYPE,
)
async def get_apple_profile(request: web.Request) -> web.StreamResponse:
    """Return the .mobileconfig."""
    return await _device_profile(request, "apple")


@api.get(
    "/sync/device-profiles/android",
    "The Android Management API policy fields for the MDM.",
    response=AndroidPolicyReply,
)
async def get_android_policy(request: web.Request) -> web.StreamResponse:
    """Return the Android policy fields."""
    return await _device_profile(request, "android")


@api.get(
    "/sync/device-profiles/windows",
    "The Windows OMA-URI settings for the MDM.",
    response=WindowsPolicyReply,
)
async def get_windows_policy(request: web.Request) -> web.StreamResponse:
    """Return the Windows custom configuration."""
    return await _device_profile(request, "windows")


class GlpiInventoryReply(Reply):
    """The box in GLPI's native inventory format (glpi-project/inventory_format)."""

    deviceid: str
    itemtype: str
    action: str
    content: dict[str, Any]


@api.get(
    "/sync/glpi-inventory",
    "The box as GLPI's native inventory describes a computer (import it in GLPI).",
    response=GlpiInventoryReply,
)
async def get_glpi_inventory(request: web.Request) -> web.StreamResponse:
    """Return the box's GLPI inventory."""
    core = request.app[CORE_KEY]
    link = await read_link(core.db)
    inventory = await core.executor.run(glpi_inventory, core.config, link.box_id)
    return web.json_response(inventory)

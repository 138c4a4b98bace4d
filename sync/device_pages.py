"""The referent's « Profils pour les MDM » page and its downloads (issue #14, scope 8)."""

from __future__ import annotations

import urllib.parse
from typing import Any

from aiohttp import web
from cryptography import x509

from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY
from appliance.web.rendering import page, say
from sync.api import export_response
from sync.config import SyncConfig
from sync.device_export import DeviceExportError, device_settings, export_for
from sync.device_profiles import KINDS, ca_name

routes = web.RouteTableDef()


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


@routes.get("/synchro/appareils")
@require_role("referent")
@page("sync_devices.html")
async def devices_page(request: web.Request) -> dict[str, Any]:
    """Say what the exports carry and which file goes into which MDM."""
    core = request.app[CORE_KEY]
    devices = core.config.section(SyncConfig).devices
    problem = ""
    shown: dict[str, Any] = {}
    try:
        settings = await core.executor.run(device_settings, core.config, _origin(request))
    except DeviceExportError as err:
        problem = say(request, err)
    else:
        shown = {
            "ssid": settings.ssid,
            "secured": bool(settings.passphrase),
            "hidden": settings.hidden,
            "pac_url": settings.pac_url,
            "do_cache_host": settings.do_cache_host,
            "store_url": settings.store_url,
            "ca_name": "",
            "ca_until": "",
        }
        if settings.ca_der is not None:
            certificate = x509.load_der_x509_certificate(settings.ca_der)
            until = certificate.not_valid_after_utc.astimezone(core.config.site.zone)
            shown["ca_name"] = ca_name(settings.ca_der)
            shown["ca_until"] = until.strftime("%d/%m/%Y")
    return {
        "problem": problem or request.query.get("message", ""),
        "shown": shown,
        "signed": devices.signing_cert is not None,
    }


@routes.get("/synchro/appareils/{kind}")
@require_role("referent")
async def device_download(request: web.Request) -> web.StreamResponse:
    """Send one export as a file to import into the MDM."""
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise web.HTTPNotFound()
    core = request.app[CORE_KEY]
    try:
        export = await export_for(
            core, kind, _origin(request), actor_of(request), source_of(request)
        )
    except DeviceExportError as err:
        message = urllib.parse.quote(say(request, err)[:300])
        raise web.HTTPSeeOther(f"/synchro/appareils?message={message}") from None
    return export_response(export)

"""The referent's page of the link with the centre: enrol, state, policy per setting."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from typing import Any

from aiohttp import web

from appliance.i18n import N_
from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY
from appliance.web.rendering import page, say, size_text
from sync.api import link_reply, replacement_reply
from sync.credentials import CredentialError
from sync.link import LinkError, enrol, rotate_key
from sync.pra import request_restore
from sync.pra_archive import PraError
from sync.state import ask_check, read_link, spool_size
from sync.trust import PolicyFetchError

routes = web.RouteTableDef()


def _when(core: Any, stamp: float) -> str:
    if not stamp:
        return "—"
    return dt.datetime.fromtimestamp(stamp, core.config.site.zone).strftime("%d/%m/%Y %H:%M")


def _shown(request: web.Request, value: Any) -> str:
    """Return a setting's value as the page shows it (words for booleans, else JSON)."""
    if value is True:
        return say(request, N_("oui"))
    if value is False:
        return say(request, N_("non"))
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def origin_text(request: web.Request, origin: str) -> str:
    """Return where a setting comes from, in words."""
    scope, _, name = origin.partition(":")
    if scope == "group":
        return say(request, N_("groupe d'établissements « %(name)s »"), name=name)
    if scope == "site":
        return say(request, N_("cet établissement (%(uai)s)"), uai=name)
    return say(request, N_("tous les établissements"))


@routes.get("/synchro")
@require_role("referent")
@page("sync.html")
async def sync_page(request: web.Request) -> dict[str, Any]:
    """Show the link's state and the centre's settings, or the enrolment form."""
    core = request.app[CORE_KEY]
    link = await read_link(core.db)
    shown = await link_reply(request, link)
    return {
        "link": shown,
        "pra": await _pra_shown(request, core),
        "last_exchange": _when(core, link.last_exchange_at),
        "applied_at": _when(core, link.policy_applied_at),
        "spool_kib": f"{shown['spool_bytes'] / 1024:.1f}".replace(".", ","),
        "origins": [origin_text(request, origin) for origin in link.policy_origins],
        "central_apps": [
            {**app, "origin_text": origin_text(request, app["origin"])}
            for app in shown["central_apps"]
        ],
        "settings": [
            {
                **s,
                "value_text": _shown(request, s["value"]),
                "local_text": _shown(request, s["local_value"]),
                "origin_text": origin_text(request, s["origin"]),
            }
            for s in shown["settings"]
        ],
        "message": request.query.get("message", ""),
    }


async def _pra_shown(request: web.Request, core: Any) -> dict[str, Any]:
    """Return the replacement backup's state with its dates and size in words."""
    shown = await replacement_reply(request)
    return {
        **shown,
        "backup_when": _when(core, shown["backup_at"]),
        "backup_size": size_text(shown["backup_bytes"]),
        "requested_when": _when(core, shown["restore_requested_at"]),
    }


async def sync_panel(core: Any) -> dict[str, Any]:
    """The link's card on the referent's dashboard."""
    link = await read_link(core.db)
    reports, _size = await spool_size(core.db)
    return {
        "enrolled": link.enrolled,
        "revoked": link.revoked,
        "last_exchange": _when(core, link.last_exchange_at),
        "policy_version": link.policy_version,
        "stale": link.policy_stale,
        "spool_reports": reports,
    }


def _back(message: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther("/synchro?message=" + urllib.parse.quote(message[:300]))


@routes.post("/synchro/inscrire")
@require_role("referent")
async def enrol_form(request: web.Request) -> web.StreamResponse:
    """Enrol with the pasted token."""
    form = await request.post()
    token = str(form.get("token", ""))[:4096]
    try:
        await enrol(request.app[CORE_KEY], token, actor_of(request), source_of(request))
    except (CredentialError, LinkError, PolicyFetchError) as err:
        raise _back(say(request, err)) from None
    raise _back("enrolled")


@routes.post("/synchro/cle")
@require_role("referent")
async def rotate_form(request: web.Request) -> web.StreamResponse:
    """Give the box a new key pair."""
    try:
        await rotate_key(request.app[CORE_KEY], actor_of(request), source_of(request))
    except LinkError as err:
        raise _back(say(request, err)) from None
    raise _back("rotated")


@routes.post("/synchro/verifier")
@require_role("referent")
async def check_form(request: web.Request) -> web.StreamResponse:
    """Ask the link to read the centre now."""
    core = request.app[CORE_KEY]
    await ask_check(core.db)
    raise _back("checking")


@routes.post("/synchro/restauration")
@require_role("referent")
async def restore_form(request: web.Request) -> web.StreamResponse:
    """Ask the centre for the school's latest replacement backup."""
    core = request.app[CORE_KEY]
    try:
        await request_restore(core, actor_of(request), source_of(request))
    except (CredentialError, LinkError, PraError) as err:
        raise _back(say(request, err)) from None
    await ask_check(core.db)
    raise _back("restore")

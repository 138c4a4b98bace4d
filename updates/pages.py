"""The referent's page « Mises à jour du système »: what runs, what is offered, approving it.

The page reads what root wrote (the offered bundle's description, the update
in progress) and the outcomes the state DB holds; the only thing it writes is
the referent's approval (:mod:`updates.offered`), bound to the offered
bundle's digest. The install itself is root's, in the maintenance window.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from importlib.metadata import version as package_version
from typing import Any, Final

from aiohttp import web

from appliance.core import Core
from appliance.i18n import N_
from appliance.scheduler.calendar import next_opening, window_from_config
from appliance.scheduler.jobs import load_calendar
from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY
from appliance.web.rendering import render, say
from updates import approval, offered, preflight, record
from updates.config import VERSION, UpdatesConfig
from updates.dashboard import PAGE

routes = web.RouteTableDef()
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")


def _when(core: Core, stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp, core.config.site.zone).strftime("%d/%m/%Y %H:%M")


async def _context(request: web.Request) -> dict[str, Any]:
    core = request.app[CORE_KEY]
    section = core.config.section(UpdatesConfig)
    data_dir = core.config.site.data_dir
    offer = await core.executor.run(offered.read_offer, section.folder)
    pending = await core.executor.run(record.read_pending, section.folder)
    given = await core.executor.run(offered.read_approval, data_dir)
    window = window_from_config(core.config.scheduler.nightly)
    opening = next_opening(window, await load_calendar(core), dt.datetime.now(dt.UTC))
    rows = await core.db.fetchall(
        "SELECT outcome, to_version, from_version, reason, at FROM update_outcomes"
        " ORDER BY at DESC LIMIT 10"
    )
    return {
        "running": package_version("preau"),
        "offer": offer,
        "offer_mb": preflight.megabytes(offer.size) if offer else "",
        "offered_at": _when(core, offer.offered_at) if offer else "",
        "approved_by": approval.approver(offer, given, section.approved_versions)
        if offer
        else None,
        "approved_at": _when(core, given.at) if given and offer else "",
        "next_window": opening.at.astimezone(core.config.site.zone).strftime("%d/%m/%Y %H:%M")
        if opening
        else "",
        "pending": pending,
        "centre_versions": section.approved_versions,
        "history": [
            {
                "outcome": row["outcome"],
                "to_version": row["to_version"],
                "from_version": row["from_version"],
                "reason": row["reason"],
                "at": _when(core, row["at"]),
            }
            for row in rows
        ],
        "done": request.query.get("fait", ""),
        "error": "",
    }


@routes.get(PAGE)
@require_role("referent")
async def updates_page(request: web.Request) -> web.StreamResponse:
    """Show the running version, the offered update, its approval and past outcomes."""
    return render(request, "system_updates.html", await _context(request))


async def _refused(request: web.Request, problem: str, status: int) -> web.Response:
    context = await _context(request) | {"error": say(request, problem)}
    return render(request, "system_updates.html", context, status=status)


@routes.post(f"{PAGE}/approuver")
@require_role("referent")
async def approve(request: web.Request) -> web.StreamResponse:
    """Approve the offered bundle the page showed, for the next maintenance window."""
    core = request.app[CORE_KEY]
    form = await request.post()
    version, sha256 = str(form.get("version", "")), str(form.get("sha256", ""))
    if not VERSION.match(version) or not _SHA256.match(sha256):
        return await _refused(request, N_("Demande d'approbation illisible."), 400)
    folder = core.config.section(UpdatesConfig).folder
    offer = await core.executor.run(offered.read_offer, folder)
    if offer is None or (offer.version, offer.sha256) != (version, sha256):
        changed = N_("La mise à jour proposée a changé depuis l'affichage : relisez-la avant.")
        return await _refused(request, changed, 409)
    given = approval.Approval(offer.version, offer.sha256, time.time())
    await core.executor.run(offered.write_approval, given, core.config.site.data_dir)
    await core.audit.record(
        actor=actor_of(request), source=source_of(request), action="system.update.approve",
        target=offer.version, outcome="success",
    )  # fmt: skip
    raise web.HTTPSeeOther(f"{PAGE}?fait=approuvee")


@routes.post(f"{PAGE}/retirer")
@require_role("referent")
async def withdraw(request: web.Request) -> web.StreamResponse:
    """Withdraw the referent's approval before the window comes."""
    core = request.app[CORE_KEY]
    given = await core.executor.run(offered.read_approval, core.config.site.data_dir)
    await core.executor.run(offered.clear_approval, core.config.site.data_dir)
    if given is not None:
        await core.audit.record(
            actor=actor_of(request), source=source_of(request),
            action="system.update.withdraw", target=given.version, outcome="success",
        )  # fmt: skip
    raise web.HTTPSeeOther(f"{PAGE}?fait=retiree")

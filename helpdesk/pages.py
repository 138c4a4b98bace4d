"""The help pages: guides, the FAQ, one's own requests, and the referent's answers.

``/aide`` opens without a login (someone who cannot log in needs help the
most); the guides and questions are then those for everyone. Asking needs a
login, so that the answer reaches its asker. ``?depuis=/page`` (the menu's
« Aide » link carries the page it was opened from) puts that page's guides
first.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from appliance import central_outbox
from appliance.core import Core
from appliance.i18n import N_
from appliance.problems import UserError
from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY, SESSION_KEY
from appliance.web.rendering import render, say
from helpdesk import guides as help_guides
from helpdesk import help_requests
from helpdesk.help_requests import HelpRequest

routes = web.RouteTableDef()
CAPTURES: Final = Path(__file__).parent / "static" / "captures"
_CAPTURE_NAME: Final = re.compile(r"^[a-z0-9-]+-\d{1,2}\.png$")
ASKERS: Final = ("pupil", "teacher", "staff", "referent")


def _when(core: Core, stamp: float | None) -> str:
    if stamp is None:
        return "—"
    return dt.datetime.fromtimestamp(stamp, core.config.site.zone).strftime("%d/%m/%Y %H:%M")


async def _shown(core: Core, rows: list[HelpRequest]) -> list[dict[str, Any]]:
    """Return the requests with their asker's name and local times, for a template."""
    names: dict[str, str] = {}
    shown = []
    for row in rows:
        if row.person_id not in names:
            person = await core.directory.person(row.person_id)
            names[row.person_id] = person.display_name if person else row.person_id
        shown.append(
            {
                "row": row,
                "asker": names[row.person_id],
                "asked": _when(core, row.created_at),
                "answered": _when(core, row.answered_at),
                "forwarded": _when(core, row.forwarded_at),
            }
        )
    return shown


async def _help_context(request: web.Request) -> dict[str, Any]:
    session = request[SESSION_KEY]
    core = request.app[CORE_KEY]
    role = session.role if session else ""
    guides = help_guides.guides_for(role) if role else list(help_guides.GUIDES)
    questions = (
        help_guides.questions_for(role)
        if role
        else [q for q in help_guides.FAQ if q.roles == help_guides.EVERYONE]
    )
    origin = help_requests.checked_page(request.query.get("depuis", ""))
    here = help_guides.about_page(origin, guides) if origin else []
    mine = await _shown(core, await help_requests.mine(core, session.person_id)) if session else []
    return {
        "guides": guides,
        "here": here,
        "questions": questions,
        "mine": mine,
        "origin": origin,
        "topics": help_guides.TOPICS,
        "error": "",
        "sent": request.query.get("envoyee") == "1",
        "draft": {"topic": "", "message": ""},
    }


@routes.get("/aide")
async def help_home(request: web.Request) -> web.StreamResponse:
    """Show the guides, the FAQ and one's own requests."""
    return render(request, "help.html", await _help_context(request))


@routes.get("/aide/guide/{slug}")
async def guide_page(request: web.Request) -> web.StreamResponse:
    """Show one guide, step by step, with the screenshots the UI tests took."""
    found = help_guides.guide(request.match_info["slug"])
    if found is None:
        raise web.HTTPNotFound(text=say(request, N_("Guide introuvable.")))
    steps = [
        {
            "step": step,
            "capture": found.screenshot(index)
            if step.page and (CAPTURES / found.screenshot(index)).is_file()
            else "",
        }
        for index, step in enumerate(found.steps)
    ]
    return render(request, "help_guide.html", {"guide": found, "steps": steps})


@routes.get("/aide/captures/{name}")
async def capture(request: web.Request) -> web.StreamResponse:
    """Serve a guide's screenshot (only the names the guides give)."""
    name = request.match_info["name"]
    known = {g.screenshot(i) for g, i, _ in help_guides.screenshots()}
    if not _CAPTURE_NAME.match(name) or name not in known or not (CAPTURES / name).is_file():
        raise web.HTTPNotFound
    return web.FileResponse(CAPTURES / name, headers={"Cache-Control": "max-age=86400"})


@routes.post("/aide/demande")
@require_role(*ASKERS)
async def ask(request: web.Request) -> web.StreamResponse:
    """Send a request to the referent."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - guaranteed by require_role
    core = request.app[CORE_KEY]
    form = await request.post()
    topic = str(form.get("topic", ""))
    message = str(form.get("message", ""))
    try:
        number = await help_requests.ask(
            core, session.person_id, session.role, topic, message, str(form.get("depuis", ""))
        )
    except UserError as err:
        context = await _help_context(request)
        context |= {"error": say(request, err), "draft": {"topic": topic, "message": message}}
        return render(request, "help.html", context, status=400)
    await _audited(request, "help.ask", number)
    raise web.HTTPSeeOther("/aide?envoyee=1#mes-demandes")


@routes.post("/aide/demande/{number:\\d{1,9}}/close")
@require_role(*ASKERS)
async def close_mine(request: web.Request) -> web.StreamResponse:
    """Close one's own request (it is solved)."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - guaranteed by require_role
    number = int(request.match_info["number"])
    core = request.app[CORE_KEY]
    if await help_requests.close(core, number, session.person_id):
        await _audited(request, "help.close", number)
    raise web.HTTPSeeOther("/aide#mes-demandes")


async def _desk_context(request: web.Request) -> dict[str, Any]:
    core = request.app[CORE_KEY]
    return {
        "open": await _shown(core, await help_requests.all_requests(core)),
        "closed": await _shown(core, await help_requests.all_requests(core, closed=True)),
        "error": "",
        "failed": 0,
        "linked": await central_outbox.linked(core),
    }


async def _audited(request: web.Request, action: str, number: int) -> None:
    """Audit one action on request ``number`` (asked, answered, closed, forwarded)."""
    await request.app[CORE_KEY].audit.record(
        actor=actor_of(request), source=source_of(request), action=action,
        target=str(number), outcome="success",
    )  # fmt: skip


async def _desk_refusal(
    request: web.Request, problem: str | UserError, number: int, status: int
) -> web.Response:
    """Show the desk again with why the action on request ``number`` was refused."""
    context = await _desk_context(request) | {"error": say(request, problem), "failed": number}
    return render(request, "help_desk.html", context, status=status)


@routes.get("/aide/demandes")
@require_role("referent")
async def desk(request: web.Request) -> web.StreamResponse:
    """List the requests: waiting first, then answered, then the last closed."""
    return render(request, "help_desk.html", await _desk_context(request))


@routes.post("/aide/demandes/{number:\\d{1,9}}/reponse")
@require_role("referent")
async def answer(request: web.Request) -> web.StreamResponse:
    """Answer a request; close it too when asked."""
    number = int(request.match_info["number"])
    core = request.app[CORE_KEY]
    form = await request.post()
    try:
        answered = await help_requests.answer(
            core, number, str(form.get("answer", "")), actor_of(request)
        )
    except UserError as err:
        return await _desk_refusal(request, err, number, 400)
    if answered:
        await _audited(request, "help.answer", number)
        if form.get("close") == "1" and await help_requests.close(core, number):
            await _audited(request, "help.close", number)
    raise web.HTTPSeeOther("/aide/demandes")


@routes.post("/aide/demandes/{number:\\d{1,9}}/transmettre")
@require_role("referent")
async def forward(request: web.Request) -> web.StreamResponse:
    """Send a request on to the collectivité's central team, in the referent's words."""
    number = int(request.match_info["number"])
    core = request.app[CORE_KEY]
    form = await request.post()
    if not await central_outbox.linked(core):
        unlinked = N_("Ce boîtier n'est pas relié au centre de la collectivité.")
        return await _desk_refusal(request, unlinked, number, 409)
    try:
        sent = await help_requests.forward(core, number, str(form.get("summary", "")))
    except UserError as err:
        return await _desk_refusal(request, err, number, 400)
    if sent:
        await _audited(request, "help.forward", number)
    raise web.HTTPSeeOther("/aide/demandes")


@routes.post("/aide/demandes/{number:\\d{1,9}}/close")
@require_role("referent")
async def close(request: web.Request) -> web.StreamResponse:
    """Close a request without answering (a duplicate, solved by phone)."""
    number = int(request.match_info["number"])
    core = request.app[CORE_KEY]
    if await help_requests.close(core, number):
        await _audited(request, "help.close", number)
    raise web.HTTPSeeOther("/aide/demandes")

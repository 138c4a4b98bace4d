"""The page of a class's virtual groups, from a phone, without script (issue #13 scope 6).

A teacher of the class (or the referent) names a group and ticks its pupils;
the groups then appear as targets on the class's internet page and its
hand-outs and assignments. The rules (names, pupils of the class, one name
per class) are :mod:`appliance.identity.subgroups`'s, as for the API.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from aiohttp import web

from appliance.i18n import N_
from appliance.identity import subgroups
from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY, SESSION_KEY
from appliance.web.rendering import page, render, say

routes = web.RouteTableDef()
PATH = "/classe/groupes"
NOTICES = {
    "saved": N_("Groupe enregistré."),
    "deleted": N_("Groupe supprimé ; ses contrôles ne s'appliquent plus à personne."),
}


async def _known(request: web.Request) -> list[str]:
    session = request[SESSION_KEY]
    if session is None:
        raise web.HTTPUnauthorized
    directory = request.app[CORE_KEY].directory
    return await directory.classes_in_charge(session.person_id, session.role)


@routes.get(PATH)
@require_role("teacher", "referent")
@page("subgroups.html")
async def subgroups_page(request: web.Request) -> dict[str, Any]:
    """Show a class's groups and the form for a new one."""
    known = await _known(request)
    asked = request.query.get("classe", "")
    class_name = asked if asked in known else (known[0] if known else "")
    notice = request.query.get("message", "")
    return await _context(
        request, known, class_name, say(request, NOTICES[notice]) if notice in NOTICES else ""
    )


async def _context(
    request: web.Request, known: list[str], class_name: str, notice: str = "", problem: str = ""
) -> dict[str, Any]:
    core = request.app[CORE_KEY]
    names = await core.directory.roster(class_name)
    pupils = [{"id": person, "name": name} for person, name in names.items()]
    groups = [
        {
            "id": group.id,
            "name": group.name,
            "members": group.members,
            "names": [names.get(person, person) for person in group.members],
        }
        for group in (await subgroups.of_class(core, class_name) if class_name else [])
    ]
    return {
        "classes": known,
        "class_name": class_name,
        "groups": groups,
        "pupils": pupils,
        "notice": notice,
        "problem": problem,
    }


def _back(class_name: str, **query: str) -> str:
    return f"{PATH}?{urllib.parse.urlencode({'classe': class_name, **query})}"


@routes.post(PATH)
@require_role("teacher", "referent")
async def subgroups_action(request: web.Request) -> web.StreamResponse:
    """Make or delete a group; back to the page."""
    core = request.app[CORE_KEY]
    form = await request.post()
    class_name = str(form.get("classe", ""))
    known = await _known(request)
    if class_name not in known:
        raise web.HTTPForbidden(
            text=say(request, N_("Vous n'enseignez pas dans la classe « %(name)s »."),
                     name=class_name)
        )  # fmt: skip
    what = str(form.get("action", ""))
    if what == "delete":
        text = str(form.get("groupe", ""))
        group = await subgroups.subgroup(core, int(text)) if text.isdigit() else None
        if group is None or group.class_name != class_name:
            raise web.HTTPNotFound(
                text=say(request, N_("Ce groupe n'existe pas dans cette classe."))
            )
        await subgroups.delete(core, group.id)
        await core.audit.record(
            actor=actor_of(request), source=source_of(request), action="subgroup.delete",
            target=f"{class_name}/{group.name}", outcome="success",
        )  # fmt: skip
        raise web.HTTPSeeOther(_back(class_name, message="deleted"))
    if what != "save":
        raise web.HTTPBadRequest(text=say(request, N_("Action inconnue.")))
    pupils = [str(value) for value in form.getall("eleve", [])][:60]
    try:
        group = await subgroups.save(
            core, class_name, str(form.get("nom", "")), pupils, actor=actor_of(request)
        )
    except subgroups.SubgroupError as err:
        context = await _context(request, known, class_name, problem=say(request, err))
        return render(request, "subgroups.html", context, status=422)
    await core.audit.record(
        actor=actor_of(request), source=source_of(request), action="subgroup.save",
        target=f"{class_name}/{group.name}", outcome="success",
        detail=f"{len(group.members)} pupils",
    )  # fmt: skip
    raise web.HTTPSeeOther(_back(class_name, message="saved"))

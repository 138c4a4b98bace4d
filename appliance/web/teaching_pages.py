"""The referent's page of who teaches which class (issue #13 scope 1 and 3).

Every teacher with their classes and where each link comes from (the
directory, STS-Web, the AAF, the referent), and, per teacher, the classes
the referent gives besides: the delegation a teacher's page, their internet
controls and their class areas then follow. The same rule as
``PUT /api/v1/people/{id}/classes``: the referent's links only are replaced.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from aiohttp import web

from appliance.i18n import N_
from appliance.identity.directory import IdentityError
from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY
from appliance.web.rendering import page, say

routes = web.RouteTableDef()
PATH = "/enseignants"


@routes.get(PATH)
@require_role("referent")
@page("teaching.html")
async def teaching_page(request: web.Request) -> dict[str, Any]:
    """Show each teacher's classes by source, and the referent's form."""
    core = request.app[CORE_KEY]
    rows = await core.db.fetchall(
        "SELECT id, display_name FROM people WHERE role = 'teacher' AND departed_at IS NULL"
        " ORDER BY surname, given_name, display_name"
    )
    links: dict[str, list[dict[str, str]]] = {}
    for link in await core.directory.teaching():
        links.setdefault(str(link["person_id"]), []).append(
            {"class_name": str(link["class_name"]), "source": str(link["source"])}
        )
    teachers = [
        {
            "id": row["id"],
            "name": row["display_name"],
            "links": links.get(row["id"], []),
            "given": {x["class_name"] for x in links.get(row["id"], []) if x["source"] == "local"},
        }
        for row in rows
    ]
    message = request.query.get("message", "")
    return {
        "teachers": teachers,
        "classes": await core.directory.classes(),
        "without": sum(1 for teacher in teachers if not teacher["links"]),
        "notice": say(request, N_("Classes enregistrées.")) if message == "saved" else "",
    }


@routes.post(PATH)
@require_role("referent")
async def teaching_action(request: web.Request) -> web.StreamResponse:
    """Replace the classes the referent gives one teacher; audited."""
    core = request.app[CORE_KEY]
    form = await request.post()
    person_id = str(form.get("enseignant", ""))
    classes = [str(value) for value in form.getall("classe", [])][:60]
    try:
        await core.directory.set_classes_taught(person_id, classes)
    except IdentityError as err:
        raise web.HTTPUnprocessableEntity(text=say(request, err)) from err
    await core.audit.record(
        actor=actor_of(request), source=source_of(request), action="teaching.set",
        target=person_id, outcome="success", detail=", ".join(classes),
    )  # fmt: skip
    anchor = urllib.parse.quote(person_id)
    raise web.HTTPSeeOther(f"{PATH}?message=saved#enseignant-{anchor}")

"""Virtual groups of a class over the JSON API (issue #13 scope 6, CARMO #9.9).

A teacher of the class, or the referent, lists, makes, changes and deletes
the class's groups; a teacher of another class is refused on every route,
as for every class-scoped route. The rules are in
:mod:`appliance.identity.subgroups`; the teacher's page uses the same.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from appliance.i18n import N_
from appliance.identity import subgroups
from appliance.web.api_routes import STAFF, ApiRoutes, Body, Reply
from appliance.web.auth import actor_of, source_of
from appliance.web.errors import error
from appliance.web.keys import CORE_KEY, SESSION_KEY

api = ApiRoutes()


class SubgroupBody(Body):
    """A group's name and pupils (their accounts, pupils of the class)."""

    name: str = Field(min_length=1, max_length=subgroups.MAX_NAME, description="e.g. Groupe A.")
    members: list[str] = Field(min_length=1, max_length=60, description="Pupils' accounts.")


class SubgroupMember(Reply):
    """A pupil of the group."""

    id: str
    name: str


class SubgroupReply(Reply):
    """One group of a class."""

    id: int
    class_name: str
    name: str
    members: list[SubgroupMember]
    created_by: str


class SubgroupsReply(Reply):
    """A class's groups."""

    groups: list[SubgroupReply]


class SubgroupDeleted(Reply):
    """The group is gone."""

    deleted: int


async def may_use_class(request: web.Request, class_name: str) -> web.Response | None:
    """Return the refusal when the session may not act on ``class_name``'s groups, else None."""
    core = request.app[CORE_KEY]
    session = request[SESSION_KEY]
    if not await core.directory.has_class(class_name):
        return error(404, "not_found", N_("L'établissement n'a pas de classe « %(name)s »."),
                     name=class_name)  # fmt: skip
    if session is not None and session.role == "teacher":
        if class_name not in await core.directory.classes_taught(session.person_id):
            return error(403, "forbidden", N_("Vous n'enseignez pas dans la classe « %(name)s »."),
                         name=class_name)  # fmt: skip
    return None


async def _shown(request: web.Request, group: subgroups.Subgroup) -> dict[str, object]:
    core = request.app[CORE_KEY]
    names = {}
    for person_id in group.members:
        person = await core.directory.person(person_id)
        names[person_id] = person.display_name if person else person_id
    return {
        "id": group.id,
        "class_name": group.class_name,
        "name": group.name,
        "members": [{"id": p, "name": names[p]} for p in group.members],
        "created_by": group.created_by,
    }


async def _group_of(request: web.Request) -> subgroups.Subgroup | web.Response:
    class_name = request.match_info["class_name"]
    refused = await may_use_class(request, class_name)
    if refused is not None:
        return refused
    text = request.match_info["group_id"]
    group = await subgroups.subgroup(request.app[CORE_KEY], int(text)) if text.isdigit() else None
    if group is None or group.class_name != class_name:
        return error(404, "not_found", N_("Ce groupe n'existe pas dans cette classe."))
    return group


@api.get("/classes/{class_name}/groups", "A class's groups.", roles=STAFF, response=SubgroupsReply)
async def list_groups(request: web.Request) -> web.StreamResponse:
    """List a class's groups with their pupils."""
    class_name = request.match_info["class_name"]
    refused = await may_use_class(request, class_name)
    if refused is not None:
        return refused
    groups = await subgroups.of_class(request.app[CORE_KEY], class_name)
    return web.json_response({"groups": [await _shown(request, g) for g in groups]})


@api.post(
    "/classes/{class_name}/groups",
    "Make a group of the class's pupils.",
    body=SubgroupBody,
    roles=STAFF,
    success=201,
    response=SubgroupReply,
)
async def add_group(request: web.Request, body: SubgroupBody) -> web.StreamResponse:
    """Make a group; audited."""
    class_name = request.match_info["class_name"]
    refused = await may_use_class(request, class_name)
    if refused is not None:
        return refused
    return await _save(request, class_name, body, None)


@api.put(
    "/classes/{class_name}/groups/{group_id}",
    "Rename a group or change its pupils.",
    body=SubgroupBody,
    roles=STAFF,
    response=SubgroupReply,
)
async def change_group(request: web.Request, body: SubgroupBody) -> web.StreamResponse:
    """Replace a group's name and pupils; audited."""
    group = await _group_of(request)
    if isinstance(group, web.Response):
        return group
    return await _save(request, group.class_name, body, group.id)


async def _save(
    request: web.Request, class_name: str, body: SubgroupBody, group_id: int | None
) -> web.StreamResponse:
    core = request.app[CORE_KEY]
    try:
        group = await subgroups.save(
            core, class_name, body.name, body.members, actor=actor_of(request),
            subgroup_id=group_id,
        )  # fmt: skip
    except subgroups.SubgroupError as err:
        return error(422, "invalid", err)
    await core.audit.record(
        actor=actor_of(request), source=source_of(request), action="subgroup.save",
        target=f"{class_name}/{group.name}", outcome="success",
        detail=f"{len(group.members)} pupils",
    )  # fmt: skip
    return web.json_response(await _shown(request, group), status=201 if group_id is None else 200)


@api.delete(
    "/classes/{class_name}/groups/{group_id}",
    "Delete a group (its controls end with it).",
    roles=STAFF,
    response=SubgroupDeleted,
)
async def delete_group(request: web.Request) -> web.StreamResponse:
    """Delete a group; audited."""
    group = await _group_of(request)
    if isinstance(group, web.Response):
        return group
    core = request.app[CORE_KEY]
    await subgroups.delete(core, group.id)
    await core.audit.record(
        actor=actor_of(request), source=source_of(request), action="subgroup.delete",
        target=f"{group.class_name}/{group.name}", outcome="success",
    )  # fmt: skip
    return web.json_response({"deleted": group.id})

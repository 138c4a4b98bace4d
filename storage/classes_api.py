"""Class areas over the JSON API: Distribution and assignments' Rendus (#9.1, #9.17).

Who may do what is decided by :mod:`storage.classes` on every
request, from the session's person (role and class from the directory).
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from typing import Any

from aiohttp import web
from pydantic import Field

from appliance.antivirus import ScannerUnavailable
from appliance.i18n import N_
from appliance.identity import subgroups
from appliance.web.api_routes import EVERYONE, STAFF, ApiRoutes, Body, parsed_query
from appliance.web.auth import source_of
from appliance.web.errors import error
from appliance.web.keys import CORE_KEY, SESSION_KEY
from appliance.web.rendering import say
from storage import assignments, classes
from storage.pedagogical import PedagogicalSpace
from storage.personnel import SpaceError
from storage.replies import (
    AssignmentOpened,
    AssignmentsReply,
    ClassFileStored,
    HandedInFromFiles,
    HandedInReply,
    ListingReply,
)
from storage.spaces_api import (
    DOWNLOAD,
    RAW_PATHS,
    PathQuery,
    _refusal,
    held,
    send_stream,
    store_of,
)
from storage.store import HeldForScan

api = ApiRoutes()


class AssignmentBody(Body):
    """Work to hand in, for a class or one of its groups, with an optional deadline."""

    title: str = Field(min_length=1, max_length=200)
    due_at: dt.datetime | None = None
    group_id: int | None = Field(None, ge=1, description="A group of the class (issue #13).")


class DistributionQuery(PathQuery):
    """Where in the Distribution, and whose: the class's, or one of its groups'."""

    groupe: int | None = Field(None, ge=1, description="A group of the class (issue #13).")


async def _person(request: web.Request) -> classes.Person:
    session = request[SESSION_KEY]
    if session is None:
        raise web.HTTPUnauthorized
    core = request.app[CORE_KEY]
    found = await core.directory.person(session.person_id)
    taught = (
        await core.directory.classes_taught(session.person_id) if session.role == "teacher" else []
    )
    groups = (
        [g.id for g in await subgroups.groups_of_pupil(core, session.person_id)]
        if session.role == "pupil"
        else []
    )
    return classes.Person(
        session.person_id, session.role, found.class_name if found else "", tuple(taught),
        tuple(groups),
    )  # fmt: skip


async def _distribution(request: web.Request, person: classes.Person, *, write: bool) -> Any:
    """Return the Distribution the request names (?groupe= for a group's), if allowed."""
    class_name = request.match_info["class_name"]
    group = parsed_query(request, DistributionQuery).groupe
    await assignments.group_of_class(request.app[CORE_KEY], class_name, group)
    return classes.distribution(_root(request), class_name, person, write=write, group=group)


def _root(request: web.Request) -> Any:
    return request.app[CORE_KEY].config.site.data_dir / "productions" / "classes"


def _denied(err: Exception) -> web.Response:
    if isinstance(err, classes.AccessDenied):
        return error(403, "forbidden", err)
    return _refusal(err)


async def _receive(
    request: web.Request, target: PedagogicalSpace, person: classes.Person
) -> web.StreamResponse:
    """Store the request body in a class area (access already checked)."""
    try:
        size = await store_of(request).put_class_file(
            target,
            parsed_query(request, PathQuery).path,
            request.content.iter_chunked(1 << 20),
            actor=person.id,
        )
    except HeldForScan as err:
        return held(request, err)
    except (SpaceError, ScannerUnavailable) as err:
        return _denied(err)
    return web.json_response({"size": size}, status=201)


async def _send_file(
    request: web.Request, target: PedagogicalSpace, path: str
) -> web.StreamResponse:
    store = store_of(request)
    try:
        # size_of checks the path (storage.paths) before any stat.
        size = await request.app[CORE_KEY].executor.run(target.size_of, path)
    except SpaceError as err:
        return _refusal(err)
    except OSError:
        return _refusal(FileNotFoundError(path))
    return await send_stream(
        request, DOWNLOAD, size, lambda write: store.read_class_file(target, path, write)
    )


@api.get(
    "/classes/{class_name}/distribution",
    "List a class's Distribution.",
    roles=EVERYONE,
    response=ListingReply,
    query=DistributionQuery,
)
async def distribution_list(request: web.Request) -> web.StreamResponse:
    """List the class's (or a group's) Distribution folder (?path=, ?groupe=)."""
    try:
        target = await _distribution(request, await _person(request), write=False)
        path = parsed_query(request, DistributionQuery).path
        entries = await request.app[CORE_KEY].executor.run(target.listing, path)
    except (classes.AccessDenied, SpaceError, FileNotFoundError) as err:
        return _denied(err)
    return web.json_response({"entries": entries})


@api.get(
    "/classes/{class_name}/distribution/file",
    "Download a Distribution document.",
    roles=EVERYONE,
    media="application/octet-stream",
    query=DistributionQuery,
)
async def distribution_get(request: web.Request) -> web.StreamResponse:
    """Download a Distribution document (?path=, ?groupe=)."""
    try:
        target = await _distribution(request, await _person(request), write=False)
    except (classes.AccessDenied, SpaceError) as err:
        return _denied(err)
    return await _send_file(request, target, parsed_query(request, PathQuery).path)


@api.put(
    "/classes/{class_name}/distribution/file",
    "Put a document in Distribution (teachers).",
    roles=EVERYONE,
    success=201,
    response=ClassFileStored,
    query=DistributionQuery,
)
async def distribution_put(request: web.Request) -> web.StreamResponse:
    """Put a document in Distribution (teachers, referent; ?groupe= for a group's)."""
    person = await _person(request)
    try:
        target = await _distribution(request, person, write=True)
    except (classes.AccessDenied, SpaceError) as err:
        return _denied(err)
    return await _receive(request, target, person)


@api.post(
    "/classes/{class_name}/assignments",
    "Open an assignment (Rendus).",
    body=AssignmentBody,
    roles=STAFF,
    success=201,
    response=AssignmentOpened,
)
async def create_assignment(request: web.Request, body: AssignmentBody) -> web.StreamResponse:
    """Open an assignment for a class (a Rendus folder per pupil)."""
    class_name = request.match_info["class_name"]
    person = await _person(request)
    try:
        classes.check_class(class_name)
        classes.check_teaches(person, class_name)
    except (SpaceError, classes.AccessDenied) as err:
        return _denied(err)
    due = body.due_at.timestamp() if body.due_at else None
    core = request.app[CORE_KEY]
    try:
        assignment_id = await assignments.open_assignment(
            core, class_name, body.title, actor=person.id, due_at=due, group_id=body.group_id
        )
    except SpaceError as err:
        return error(422, "invalid", err)
    await core.audit.record(
        actor=person.id,
        source=source_of(request),
        action="assignment.create",
        target=class_name,
        outcome="success",
        detail=body.title,
    )
    return web.json_response(
        {"id": assignment_id, "title": body.title, "due_at": due, "group_id": body.group_id},
        status=201,
    )


@api.get(
    "/classes/{class_name}/assignments",
    "A class's assignments.",
    roles=EVERYONE,
    response=AssignmentsReply,
)
async def list_assignments(request: web.Request) -> web.StreamResponse:
    """List a class's assignments (pupils: their own class only)."""
    person = await _person(request)
    class_name = request.match_info["class_name"]
    if person.role not in classes.STAFF and person.class_name != class_name:
        return error(403, "forbidden", N_("Ce sont les devoirs d'une autre classe."))
    try:
        classes.check_teaches(person, class_name)
    except classes.AccessDenied as err:
        return _denied(err)
    found = await assignments.of_class(request.app[CORE_KEY], class_name, person)
    return web.json_response({"assignments": found})


async def _assignment(request: web.Request) -> Any:
    row = await assignments.assignment(
        request.app[CORE_KEY], request.match_info["assignment_id"], request.match_info["class_name"]
    )
    if row is None:
        raise web.HTTPNotFound(text=say(request, N_("Aucun travail à rendre sous ce numéro.")))
    return row


async def _submission(
    request: web.Request, row: Any, pupil: str, person: classes.Person, *, write: bool
) -> Any:
    """Return a pupil's folder for the assignment if ``person`` may use it (its group too)."""
    return classes.submission(
        _root(request), row["class_name"], row["id"], pupil, person, write=write,
        due_at=row["due_at"], now=time.time(),
        members=await assignments.members_of(request.app[CORE_KEY], row),
    )  # fmt: skip


@api.put(
    "/classes/{class_name}/assignments/{assignment_id}/rendu",
    "Hand a file in (pupils, before the deadline).",
    roles=EVERYONE,
    success=201,
    response=ClassFileStored,
    query=PathQuery,
)
async def hand_in(request: web.Request) -> web.StreamResponse:
    """Hand a file in for an assignment (the pupil's own folder, before the deadline)."""
    person = await _person(request)
    row = await _assignment(request)
    try:
        target = await _submission(request, row, person.id, person, write=True)
    except (classes.AccessDenied, SpaceError) as err:
        return _denied(err)
    return await _receive(request, target, person)


@api.get(
    "/classes/{class_name}/assignments/{assignment_id}/rendus.zip",
    "All the work handed in for an assignment, as one zip (a folder per pupil, by name).",
    roles=STAFF,
    media="application/zip",
)
async def handed_in_zip(request: web.Request) -> web.StreamResponse:
    """Download every pupil's work for one assignment at once (#9.17)."""
    person = await _person(request)
    row = await _assignment(request)
    try:
        classes.check_teaches(person, row["class_name"])
    except classes.AccessDenied as err:
        return _denied(err)
    people = await request.app[CORE_KEY].db.fetchall(
        "SELECT id, display_name FROM people WHERE role = 'pupil' AND class_name = ?",
        (row["class_name"],),
    )
    names = {p["id"]: p["display_name"] for p in people}
    folder = _root(request) / row["class_name"] / "Rendus" / str(row["id"])
    filename = f"rendus-{row['class_name']}-{row['id']}.zip"
    headers = {
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="{urllib.parse.quote(filename)}"',
    }
    store = store_of(request)
    return await send_stream(
        request, headers, None, lambda write: store.export_handed_in(folder, names, write)
    )


@api.get(
    "/classes/{class_name}/assignments/{assignment_id}/rendus",
    "Work handed in (teachers: all; a pupil: their own).",
    roles=EVERYONE,
    response=HandedInReply,
)
async def handed_in(request: web.Request) -> web.StreamResponse:
    """What was handed in: every pupil's files (teachers) or mine (a pupil)."""
    person = await _person(request)
    row = await _assignment(request)
    root = _root(request) / row["class_name"] / "Rendus" / str(row["id"])
    core = request.app[CORE_KEY]
    pupils = [person.id]
    if person.role in classes.STAFF:
        try:
            classes.check_teaches(person, row["class_name"])
        except classes.AccessDenied as err:
            return _denied(err)
        pupils = await core.executor.run(classes.pupils_who_handed_in, root)
    result: dict[str, Any] = {}
    for pupil in pupils:
        try:
            target = await _submission(request, row, pupil, person, write=False)
        except classes.AccessDenied as err:
            return _denied(err)
        result[pupil] = await core.executor.run(target.listing, "")
    return web.json_response({"rendus": result})


@api.get(
    "/classes/{class_name}/assignments/{assignment_id}/rendus/{pupil}/file",
    "Download a handed-in file.",
    roles=EVERYONE,
    media="application/octet-stream",
    query=PathQuery,
)
async def handed_in_file(request: web.Request) -> web.StreamResponse:
    """Download one handed-in file (teachers: any pupil; a pupil: their own)."""
    person = await _person(request)
    row = await _assignment(request)
    try:
        target = await _submission(request, row, request.match_info["pupil"], person, write=False)
    except classes.AccessDenied as err:
        return _denied(err)
    return await _send_file(request, target, parsed_query(request, PathQuery).path)


def _correction(request: web.Request, person: classes.Person, row: Any, *, write: bool) -> Any:
    return classes.correction(
        _root(request), row["class_name"], row["id"], request.match_info["pupil"], person,
        write=write,
    )  # fmt: skip


@api.put(
    "/classes/{class_name}/assignments/{assignment_id}/rendus/{pupil}/corrige",
    "Hand a corrected file back to a pupil (teachers of the class).",
    roles=STAFF,
    success=201,
    response=ClassFileStored,
    query=PathQuery,
)
async def hand_back(request: web.Request) -> web.StreamResponse:
    """Store a corrected file for one pupil; the pupil reads it beside their work (#9.17)."""
    person = await _person(request)
    row = await _assignment(request)
    try:
        target = _correction(request, person, row, write=True)
    except (classes.AccessDenied, SpaceError) as err:
        return _denied(err)
    return await _receive(request, target, person)


@api.get(
    "/classes/{class_name}/assignments/{assignment_id}/rendus/{pupil}/corrige",
    "The corrected work handed back to a pupil.",
    roles=EVERYONE,
    response=ListingReply,
)
async def handed_back(request: web.Request) -> web.StreamResponse:
    """List what was handed back to a pupil (the pupil, or a teacher of the class)."""
    person = await _person(request)
    row = await _assignment(request)
    try:
        target = _correction(request, person, row, write=False)
        entries = await request.app[CORE_KEY].executor.run(target.listing, "")
    except (classes.AccessDenied, SpaceError) as err:
        return _denied(err)
    except FileNotFoundError:
        entries = []
    return web.json_response({"entries": entries})


@api.get(
    "/classes/{class_name}/assignments/{assignment_id}/rendus/{pupil}/corrige/file",
    "Download a corrected file.",
    roles=EVERYONE,
    media="application/octet-stream",
    query=PathQuery,
)
async def handed_back_file(request: web.Request) -> web.StreamResponse:
    """Download one corrected file (the pupil, or a teacher of the class)."""
    person = await _person(request)
    row = await _assignment(request)
    try:
        target = _correction(request, person, row, write=False)
    except (classes.AccessDenied, SpaceError) as err:
        return _denied(err)
    return await _send_file(request, target, parsed_query(request, PathQuery).path)


class FromFilesBody(Body):
    """A file of the pupil's own space ("Mes fichiers") to hand in."""

    model_config = RAW_PATHS

    path: str = Field(min_length=1, max_length=1024, description="Its path in Mes fichiers.")


@api.post(
    "/classes/{class_name}/assignments/{assignment_id}/rendu/from-files",
    "Hand in a file already in Mes fichiers (pupils, before the deadline).",
    body=FromFilesBody,
    roles=EVERYONE,
    success=201,
    response=HandedInFromFiles,
)
async def hand_in_from_files(request: web.Request, body: FromFilesBody) -> web.StreamResponse:
    """Copy a file of the pupil's own space into their folder for the assignment (#9.17)."""
    person = await _person(request)
    row = await _assignment(request)
    try:
        target = await _submission(request, row, person.id, person, write=True)
        name, size = await store_of(request).copy_to_class(person.id, body.path, target)
    except (classes.AccessDenied, SpaceError, FileNotFoundError) as err:
        return _denied(err)
    return web.json_response({"name": name, "size": size}, status=201)

"""The "Ma classe" page: Distribution and assignments, from a phone, without script.

Teachers pick a class, put documents in its Distribution, open assignments
with a deadline and see what each pupil handed in; pupils see their own
class's Distribution and hand their work in. Access is decided by
:mod:`storage.classes`, as for the API. A class's virtual groups (issue #13
scope 6) each have their own Distribution, and an assignment may be for one
group: its pupils alone see it, and the roster of who has handed in is theirs.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import time
import urllib.parse
from typing import Any

from aiohttp import BodyPartReader, web

from appliance.antivirus import ScannerUnavailable
from appliance.identity import subgroups
from appliance.web.api_routes import EVERYONE
from appliance.web.auth import require_role
from appliance.web.keys import CORE_KEY, SESSION_KEY
from appliance.web.rendering import render, size_text
from storage import assignments as assignment_state
from storage import classes
from storage.classes_api import _person, _root
from storage.files_pages import _file_chunks
from storage.pedagogical import PedagogicalSpace
from storage.personnel import SpaceError
from storage.spaces_api import store_of
from storage.store import HeldForScan
from storage.store_base import InfectedError

routes = web.RouteTableDef()


def _back(class_name: str, message: str = "") -> str:
    query = {"classe": class_name}
    if message:
        query["message"] = message
    return "/classe?" + urllib.parse.urlencode(query)


@routes.get("/classe")
@require_role(*EVERYONE)
async def class_page(request: web.Request) -> web.StreamResponse:
    """Show a class's Distribution and assignments."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - require_role guarantees it
    core = request.app[CORE_KEY]
    person = await _person(request)
    # A teacher's own classes only (issue #13); every class for the referent.
    known = await core.directory.classes_in_charge(person.id, person.role)
    class_name = request.query.get("classe") or person.class_name or (known[0] if known else "")
    error = ""
    documents: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    assignments: list[dict[str, Any]] = []
    zone = core.config.site.zone
    if class_name:
        try:
            target = classes.distribution(_root(request), class_name, person, write=False)
            documents = await core.executor.run(target.listing, "")
        except classes.AccessDenied:
            error = "forbidden"
        except SpaceError:
            error = "absent"
        if not error:
            groups = await _group_documents(request, class_name, person)
            rows = await assignment_state.of_class(core, class_name, person)
            roster = await _roster(request, class_name) if person.role in classes.STAFF else {}
            members = await subgroups.members(
                core, {r["group_id"] for r in rows if r["group_id"] is not None}
            )
            for row in rows:
                folder = _root(request) / class_name / "Rendus" / str(row["id"])
                pupils: list[dict[str, Any]] = []
                returned: list[dict[str, str]] = []  # a pupil's work handed back
                if person.role in classes.STAFF:
                    handed = await core.executor.run(classes.pupils_who_handed_in, folder)
                    whose = roster
                    if row["group_id"] is not None:  # the group's pupils only
                        chosen = members.get(row["group_id"], frozenset())
                        whose = {login: name for login, name in roster.items() if login in chosen}
                    pupils = await _work_of(request, class_name, row["id"], whose, handed)
                else:
                    mine = PedagogicalSpace(folder, person.id)
                    listed = await core.executor.run(mine.listing, "")
                    handed = [entry["name"] for entry in listed]
                    back = PedagogicalSpace(folder / classes.CORRECTIONS, person.id)
                    corrected = await core.executor.run(back.listing, "")
                    base = (
                        f"/api/v1/classes/{urllib.parse.quote(class_name)}/assignments/"
                        f"{row['id']}/rendus/{urllib.parse.quote(person.id)}/corrige/file?"
                    )
                    returned = [
                        {
                            "name": e["name"],
                            "href": base + urllib.parse.urlencode({"path": e["name"]}),
                        }
                        for e in corrected
                        if not e["folder"]
                    ]
                due = row["due_at"]
                assignments.append(
                    {
                        "id": row["id"],
                        "title": row["title"],
                        "group": row["group"],
                        "due": dt.datetime.fromtimestamp(due, zone).strftime("%d/%m/%Y %H:%M")
                        if due
                        else "",
                        "open": due is None or due > time.time(),
                        "handed": handed,
                        "returned": returned,
                        # Staff: every pupil by name, with their work or none yet (#9.17).
                        "pupils": pupils,
                        "handed_count": sum(1 for p in pupils if p["files"]),
                        "zip": f"/api/v1/classes/{urllib.parse.quote(class_name)}/assignments/"
                        f"{row['id']}/rendus.zip",
                        "action": "/classe/rendu?"
                        + urllib.parse.urlencode(
                            {
                                "classe": class_name,
                                "devoir": row["id"],
                                "csrf_token": session.csrf_token,
                            }
                        ),
                    }
                )
    _link_documents(documents, class_name, None)
    upload_action = "/classe/distribution?" + urllib.parse.urlencode(
        {"classe": class_name, "csrf_token": session.csrf_token}
    )
    for group in groups:
        group["upload_action"] = "/classe/distribution?" + urllib.parse.urlencode(
            {"classe": class_name, "groupe": group["id"], "csrf_token": session.csrf_token}
        )
    return render(
        request,
        "class.html",
        {
            "class_name": class_name,
            "classes": known if person.role in classes.STAFF else [person.class_name],
            "staff": person.role in classes.STAFF,
            "documents": documents,
            "groups": groups,
            "assignments": assignments,
            "error": error,
            "message": request.query.get("message", ""),
            "upload_action": upload_action,
            # A pupil hands in what is already in Mes fichiers, newest first.
            "my_files": await store_of(request).recent_files(person.id, 50)
            if person.role == "pupil"
            else [],
        },
    )


def _link_documents(documents: list[dict[str, Any]], class_name: str, group: int | None) -> None:
    """Give each document its size in words and its download link."""
    for doc in documents:
        doc["size_text"] = size_text(doc.get("size", 0)) if not doc["folder"] else ""
        query = {"path": doc["name"], **({"groupe": str(group)} if group else {})}
        doc["href"] = f"/api/v1/classes/{urllib.parse.quote(class_name)}/distribution/file?" + (
            urllib.parse.urlencode(query)
        )


async def _group_documents(
    request: web.Request, class_name: str, person: classes.Person
) -> list[dict[str, Any]]:
    """Return the class's groups this person sees (staff: all; a pupil: theirs), with documents."""
    core = request.app[CORE_KEY]
    shown = []
    for group in await subgroups.of_class(core, class_name):
        if person.role not in classes.STAFF and group.id not in person.groups:
            continue
        target = classes.distribution(
            _root(request), class_name, person, write=False, group=group.id
        )
        try:
            documents = await core.executor.run(target.listing, "")
        except (SpaceError, FileNotFoundError):
            documents = []
        _link_documents(documents, class_name, group.id)
        shown.append({"id": group.id, "name": group.name, "documents": documents})
    return shown


async def _roster(request: web.Request, class_name: str) -> dict[str, str]:
    """Return the class's pupils in the directory: login → name shown, by surname."""
    return await request.app[CORE_KEY].directory.roster(class_name)


async def _work_of(
    request: web.Request,
    class_name: str,
    assignment_id: int,
    roster: dict[str, str],
    handed: list[str],
) -> list[dict[str, Any]]:
    """Return each pupil (the class's, then others who handed in) with their files' links."""
    core = request.app[CORE_KEY]
    folder = _root(request) / class_name / "Rendus" / str(assignment_id)
    base = f"/api/v1/classes/{urllib.parse.quote(class_name)}/assignments/{assignment_id}/rendus"
    session = request[SESSION_KEY]
    token = session.csrf_token if session is not None else ""
    pupils = []
    for login in [*roster, *(p for p in handed if p not in roster)]:
        back = PedagogicalSpace(folder / classes.CORRECTIONS, login)
        corrected = [e["name"] for e in await core.executor.run(back.listing, "")]
        files = []
        if login in handed:
            listed = await core.executor.run(PedagogicalSpace(folder, login).listing, "")
            files = [
                {
                    "name": entry["name"],
                    "href": f"{base}/{urllib.parse.quote(login)}/file?"
                    + urllib.parse.urlencode({"path": entry["name"]}),
                }
                for entry in listed
                if not entry["folder"]
            ]
        pupils.append(
            {
                "name": roster.get(login, login),
                "login": login,
                "files": files,
                "corrected": corrected,
                "back_action": "/classe/corrige?"
                + urllib.parse.urlencode(
                    {
                        "classe": class_name,
                        "devoir": assignment_id,
                        "eleve": login,
                        "csrf_token": token,
                    }
                ),
            }
        )
    return pupils


async def _store_parts(request: web.Request, target: Any, person: classes.Person) -> str:
    stored = 0
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or not part.filename:
            continue
        name = posixpath.basename(part.filename.replace("\\", "/"))
        try:
            await store_of(request).put_class_file(
                target, name, _file_chunks(part), actor=person.id
            )
        except HeldForScan:
            return "held"
        except InfectedError:
            return "infected"
        except (SpaceError, ScannerUnavailable):
            return "refused"
        stored += 1
    return f"stored:{stored}"


@routes.post("/classe/distribution")
@require_role("teacher", "referent")
async def distribution_form(request: web.Request) -> web.StreamResponse:
    """Put documents in the class's Distribution."""
    person = await _person(request)
    class_name = request.query.get("classe", "")
    text = request.query.get("groupe", "")
    group = int(text) if text.isdigit() else None
    try:
        await assignment_state.group_of_class(request.app[CORE_KEY], class_name, group)
        target = classes.distribution(_root(request), class_name, person, write=True, group=group)
    except (classes.AccessDenied, SpaceError):
        raise web.HTTPSeeOther(_back(class_name, "refused")) from None
    raise web.HTTPSeeOther(_back(class_name, await _store_parts(request, target, person)))


async def _assignment_of(request: web.Request, class_name: str, assignment: str) -> Any:
    """Return the class's assignment a form names, or go back to the page refused."""
    row = await assignment_state.assignment(request.app[CORE_KEY], assignment, class_name)
    if row is None:
        raise web.HTTPSeeOther(_back(class_name, "refused"))
    return row


async def _pupil_folder(
    request: web.Request, class_name: str, row: Any, person: classes.Person
) -> PedagogicalSpace:
    """Return the pupil's own folder for the assignment, if they may hand in (group, deadline)."""
    return classes.submission(
        _root(request), class_name, row["id"], person.id, person, write=True,
        due_at=row["due_at"], now=time.time(),
        members=await assignment_state.members_of(request.app[CORE_KEY], row),
    )  # fmt: skip


@routes.post("/classe/rendu")
@require_role(*EVERYONE)
async def hand_in_form(request: web.Request) -> web.StreamResponse:
    """Hand work in for an assignment (a pupil, before the deadline)."""
    person = await _person(request)
    class_name = request.query.get("classe", "")
    row = await _assignment_of(request, class_name, request.query.get("devoir", ""))
    try:
        target = await _pupil_folder(request, class_name, row, person)
    except (classes.AccessDenied, SpaceError):
        raise web.HTTPSeeOther(_back(class_name, "late")) from None
    raise web.HTTPSeeOther(_back(class_name, await _store_parts(request, target, person)))


@routes.post("/classe/rendu-fichier")
@require_role(*EVERYONE)
async def hand_in_from_files_form(request: web.Request) -> web.StreamResponse:
    """Hand in a file already in Mes fichiers (a pupil, before the deadline)."""
    person = await _person(request)
    form = await request.post()
    class_name = str(form.get("classe", ""))
    row = await _assignment_of(request, class_name, str(form.get("devoir", "")))
    try:
        target = await _pupil_folder(request, class_name, row, person)
        await store_of(request).copy_to_class(person.id, str(form.get("chemin", "")), target)
    except classes.AccessDenied:
        raise web.HTTPSeeOther(_back(class_name, "late")) from None
    except (SpaceError, FileNotFoundError):
        raise web.HTTPSeeOther(_back(class_name, "refused")) from None
    raise web.HTTPSeeOther(_back(class_name, "stored:1"))


@routes.post("/classe/corrige")
@require_role("teacher", "referent")
async def hand_back_form(request: web.Request) -> web.StreamResponse:
    """Hand corrected work back to one pupil (a teacher of the class)."""
    person = await _person(request)
    class_name = request.query.get("classe", "")
    row = await _assignment_of(request, class_name, request.query.get("devoir", ""))
    try:
        target = classes.correction(
            _root(request), class_name, row["id"], request.query.get("eleve", ""), person,
            write=True,
        )  # fmt: skip
    except (classes.AccessDenied, SpaceError):
        raise web.HTTPSeeOther(_back(class_name, "refused")) from None
    raise web.HTTPSeeOther(_back(class_name, await _store_parts(request, target, person)))


@routes.post("/classe/devoir")
@require_role("teacher", "referent")
async def assignment_form(request: web.Request) -> web.StreamResponse:
    """Open an assignment with an optional deadline (local date and time)."""
    person = await _person(request)
    form = await request.post()
    class_name = str(form.get("classe", ""))
    title = str(form.get("titre", "")).strip()[:200]
    due_text = str(form.get("echeance", "")).strip()
    group_text = str(form.get("groupe", ""))
    core = request.app[CORE_KEY]
    try:
        classes.check_class(class_name)
        classes.check_teaches(person, class_name)
        due = (
            dt.datetime.fromisoformat(due_text).replace(tzinfo=core.config.site.zone).timestamp()
            if due_text
            else None
        )
    except (SpaceError, ValueError, classes.AccessDenied):
        raise web.HTTPSeeOther(_back(class_name, "refused")) from None
    if not title:
        raise web.HTTPSeeOther(_back(class_name, "refused"))
    try:
        await assignment_state.open_assignment(
            core, class_name, title, actor=person.id, due_at=due,
            group_id=int(group_text) if group_text.isdigit() else None,
        )  # fmt: skip
    except SpaceError:
        raise web.HTTPSeeOther(_back(class_name, "refused")) from None
    raise web.HTTPSeeOther(_back(class_name, "created"))

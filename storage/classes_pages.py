"""The "Ma classe" page: Distribution and assignments, from a phone, without script.

Teachers pick a class, put documents in its Distribution, open assignments
with a deadline and see what each pupil handed in; pupils see their own
class's Distribution and hand their work in. Access is decided by
:mod:`storage.classes`, as for the API.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import time
import urllib.parse
from typing import Any

from aiohttp import BodyPartReader, web

from appliance.antivirus import ScannerUnavailable
from appliance.web.api_routes import EVERYONE
from appliance.web.auth import require_role
from appliance.web.keys import CORE_KEY, SESSION_KEY
from appliance.web.rendering import render
from storage import classes
from storage.classes_api import _person, _root
from storage.files_pages import _file_chunks, _size
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
    known = [
        r["name"]
        for r in await core.db.fetchall(
            "SELECT DISTINCT name FROM groups WHERE kind = 'class' ORDER BY name"
        )
    ]
    if person.role == "teacher":
        known = list(person.classes)  # a teacher's own classes only (issue #13)
    class_name = request.query.get("classe") or person.class_name or (known[0] if known else "")
    error = ""
    documents: list[dict[str, Any]] = []
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
            rows = await core.db.fetchall(
                "SELECT id, title, due_at FROM assignments WHERE class_name = ? ORDER BY id DESC",
                (class_name,),
            )
            roster = await _roster(request, class_name) if person.role in classes.STAFF else {}
            for row in rows:
                folder = _root(request) / class_name / "Rendus" / str(row["id"])
                pupils: list[dict[str, Any]] = []
                returned: list[dict[str, str]] = []  # a pupil's work handed back
                if person.role in classes.STAFF:
                    handed = await core.executor.run(classes.pupils_who_handed_in, folder)
                    pupils = await _work_of(request, class_name, row["id"], roster, handed)
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
    for doc in documents:
        doc["size_text"] = _size(doc.get("size", 0)) if not doc["folder"] else ""
        doc["href"] = f"/api/v1/classes/{urllib.parse.quote(class_name)}/distribution/file?" + (
            urllib.parse.urlencode({"path": doc["name"]})
        )
    upload_action = "/classe/distribution?" + urllib.parse.urlencode(
        {"classe": class_name, "csrf_token": session.csrf_token}
    )
    return render(
        request,
        "class.html",
        {
            "class_name": class_name,
            "classes": known if person.role in classes.STAFF else [person.class_name],
            "staff": person.role in classes.STAFF,
            "documents": documents,
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


async def _roster(request: web.Request, class_name: str) -> dict[str, str]:
    """Return the class's pupils in the directory: login → name shown, by surname."""
    rows = await request.app[CORE_KEY].db.fetchall(
        "SELECT id, display_name FROM people WHERE role = 'pupil' AND class_name = ?"
        " AND departed_at IS NULL ORDER BY surname, given_name, display_name",
        (class_name,),
    )
    return {row["id"]: row["display_name"] for row in rows}


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
    try:
        target = classes.distribution(_root(request), class_name, person, write=True)
    except (classes.AccessDenied, SpaceError):
        raise web.HTTPSeeOther(_back(class_name, "refused")) from None
    raise web.HTTPSeeOther(_back(class_name, await _store_parts(request, target, person)))


async def _assignment_of(request: web.Request, class_name: str, assignment: str) -> Any:
    """Return the class's assignment a form names, or go back to the page refused."""
    row = await request.app[CORE_KEY].db.fetchone(
        "SELECT id, due_at FROM assignments WHERE id = ? AND class_name = ?",
        (assignment, class_name),
    )
    if row is None:
        raise web.HTTPSeeOther(_back(class_name, "refused"))
    return row


@routes.post("/classe/rendu")
@require_role(*EVERYONE)
async def hand_in_form(request: web.Request) -> web.StreamResponse:
    """Hand work in for an assignment (a pupil, before the deadline)."""
    person = await _person(request)
    class_name = request.query.get("classe", "")
    row = await _assignment_of(request, class_name, request.query.get("devoir", ""))
    try:
        target = classes.submission(
            _root(request),
            class_name,
            row["id"],
            person.id,
            person,
            write=True,
            due_at=row["due_at"],
            now=time.time(),
        )
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
        target = classes.submission(
            _root(request), class_name, row["id"], person.id, person, write=True,
            due_at=row["due_at"], now=time.time(),
        )  # fmt: skip
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
    async with core.db.write() as tx:
        await tx.insert(
            "INSERT INTO assignments (class_name, title, created_by, created_at, due_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (class_name, title, person.id, time.time(), due),
        )
    raise web.HTTPSeeOther(_back(class_name, "created"))

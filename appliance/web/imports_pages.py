"""The referent's "Imports" page: the national files and timetables, previewed, then stored.

Issue #13 scope 1 and 2, for the referent who works in the web UI rather
than the shell: STS-Web's export, the AAF's or SIECLE's people, a teacher's
iCalendar export or weekly grid. A file sent is kept aside (``imports/
attente/<token>``, only root reads it, an hour at most) and previewed with
:mod:`appliance.imports`, exactly as the CLI does; "Enregistrer" stores
that same file, "Annuler" forgets it. The first passwords of new accounts
are a file the referent downloads, then deletes.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any, Final

from aiohttp import BodyPartReader, web

from appliance import imports
from appliance.atomic import write_atomic
from appliance.core import Core
from appliance.i18n import N_
from appliance.problems import UserError
from appliance.web.auth import actor_of, require_role
from appliance.web.keys import CORE_KEY, SESSION_KEY
from appliance.web.rendering import render, request_gettext, say

routes = web.RouteTableDef()
PATH: Final = "/imports"
MAX_UPLOAD: Final = 100 * 1024 * 1024  # the largest AAF file the reader accepts
KEEP_SECONDS: Final = 3600
KINDS: Final = ("sts", "people", "ics", "grid")
_TOKEN: Final = re.compile(r"^[0-9a-f]{32}$")
_PASSWORDS: Final = re.compile(r"^premiers-mots-de-passe-\d{8}-\d{6}\.csv$")


def _folder(core: Core) -> Path:
    return core.config.site.data_dir / "imports"


def _forget_old(pending: Path) -> None:
    """Delete files kept aside longer than an hour (blocking)."""
    if not pending.is_dir():
        return
    for path in pending.iterdir():
        if path.stat().st_mtime < time.time() - KEEP_SECONDS:
            path.unlink(missing_ok=True)


async def _context(request: web.Request, **extra: Any) -> dict[str, Any]:
    core = request.app[CORE_KEY]
    session = request[SESSION_KEY]
    teachers = await core.db.fetchall(
        "SELECT id, display_name FROM people WHERE role = 'teacher' AND departed_at IS NULL"
        " ORDER BY surname, given_name, display_name"
    )
    folder = _folder(core)
    passwords = await core.executor.run(
        lambda: (
            sorted(p.name for p in folder.glob("premiers-mots-de-passe-*.csv"))
            if folder.is_dir()
            else []
        )
    )
    return {
        "teachers": [{"id": t["id"], "name": t["display_name"]} for t in teachers],
        "upload_action": f"{PATH}?csrf_token={session.csrf_token if session else ''}",
        "password_files": passwords,
        "lines": [],
        "token": "",
        "kind": "",
        "teacher": "",
        "problem": "",
        "stored": False,
        **extra,
    }


@routes.get(PATH)
@require_role("referent")
async def imports_page(request: web.Request) -> web.StreamResponse:
    """Show the forms: which file, for whom."""
    return render(request, "imports.html", await _context(request))


async def _preview(
    request: web.Request, core: Core, kind: str, teacher: str, data: bytes
) -> imports.ImportPreview:
    actor = actor_of(request)
    if kind == "sts":
        return await imports.preview_sts(core, data, actor=actor, name="STS-Web")
    if kind == "people":
        return await imports.preview_people(core, data, actor=actor, name="AAF/SIECLE")
    return await imports.preview_timetable(
        core, teacher, data, "ics" if kind == "ics" else "grid", actor=actor
    )


async def _received(request: web.Request) -> tuple[dict[str, str], bytes]:
    """Read the form's fields and its one file (up to MAX_UPLOAD)."""
    fields: dict[str, str] = {}
    data = b""
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.filename is None:
            value = b""
            while chunk := await part.read_chunk(4096):
                value = (value + chunk)[:200]  # a field is a word: the rest is dropped
            fields[part.name or ""] = value.decode(errors="replace")
            continue
        chunks = []
        size = 0
        while chunk := await part.read_chunk(1 << 20):
            size += len(chunk)
            if size > MAX_UPLOAD:
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_UPLOAD, actual_size=size)
            chunks.append(chunk)
        data = b"".join(chunks)
    return fields, data


@routes.post(PATH)
@require_role("referent")
async def imports_preview(request: web.Request) -> web.StreamResponse:
    """Keep the file aside and show what it would change."""
    core = request.app[CORE_KEY]
    if request.content_type != "multipart/form-data":
        raise web.HTTPBadRequest(text=say(request, N_("Choisissez un fichier.")))
    fields, data = await _received(request)
    kind, teacher = fields.get("kind", ""), fields.get("enseignant", "")
    if kind not in KINDS or not data:
        context = await _context(request, problem=say(request, N_("Choisissez un fichier.")))
        return render(request, "imports.html", context, status=422)
    try:
        shown = await _preview(request, core, kind, teacher, data)
    except UserError as err:
        context = await _context(request, problem=say(request, err))
        return render(request, "imports.html", context, status=422)
    token = secrets.token_hex(16)
    pending = _folder(core) / "attente"
    await core.executor.run(_forget_old, pending)
    await core.executor.run(write_atomic, pending / token, data, mode=0o600)
    _ = request_gettext(request)
    context = await _context(
        request, lines=[line.said(_) for line in shown.lines], token=token, kind=kind,
        teacher=teacher,
    )  # fmt: skip
    return render(request, "imports.html", context)


@routes.post(f"{PATH}/enregistrer")
@require_role("referent")
async def imports_store(request: web.Request) -> web.StreamResponse:
    """Store the file kept aside, as previewed; or forget it."""
    core = request.app[CORE_KEY]
    form = await request.post()
    token, kind = str(form.get("token", "")), str(form.get("kind", ""))
    if not _TOKEN.match(token) or kind not in KINDS:
        raise web.HTTPBadRequest(text=say(request, N_("Ce fichier n'est plus en attente.")))
    path = _folder(core) / "attente" / token
    try:
        data = await core.executor.run(path.read_bytes)
    except FileNotFoundError:
        context = await _context(
            request, problem=say(request, N_("Ce fichier n'est plus en attente : renvoyez-le."))
        )
        return render(request, "imports.html", context, status=410)  # fmt: skip
    await core.executor.run(path.unlink)
    if form.get("action") != "store":
        raise web.HTTPSeeOther(PATH)
    try:
        shown = await _preview(request, core, kind, str(form.get("enseignant", "")), data)
        said = await shown.store()
    except UserError as err:
        context = await _context(request, problem=say(request, err))
        return render(request, "imports.html", context, status=422)
    _ = request_gettext(request)
    context = await _context(request, lines=[line.said(_) for line in said], stored=True)
    return render(request, "imports.html", context)


@routes.get(f"{PATH}/mots-de-passe/{{name}}")
@require_role("referent")
async def first_passwords(request: web.Request) -> web.StreamResponse:
    """Download one file of first passwords (the referent only)."""
    name = request.match_info["name"]
    path = _folder(request.app[CORE_KEY]) / name
    if not _PASSWORDS.match(name) or not path.is_file():
        raise web.HTTPNotFound(text=say(request, N_("Ce fichier n'existe plus.")))
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )


@routes.post(f"{PATH}/mots-de-passe/{{name}}")
@require_role("referent")
async def forget_first_passwords(request: web.Request) -> web.StreamResponse:
    """Delete a file of first passwords once handed out."""
    name = request.match_info["name"]
    if not _PASSWORDS.match(name):
        raise web.HTTPNotFound(text=say(request, N_("Ce fichier n'existe plus.")))
    core = request.app[CORE_KEY]
    await core.executor.run((_folder(core) / name).unlink, True)
    raise web.HTTPSeeOther(PATH)

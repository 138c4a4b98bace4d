"""The "Mes fichiers" pages: each person's two spaces from a phone or a PC.

Server-rendered and usable without JavaScript (a form per action); a small
local script adds upload progress and drag and drop on desktops. Uploads
stream from the multipart body into the store (scanned, encrypted for
PERSONNEL), never buffered whole. The CSRF token of the upload form travels
in its action URL, because the middleware must not read a file body.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any, Final

from aiohttp import BodyPartReader, web

from appliance.antivirus import ScannerUnavailable
from appliance.i18n import N_
from appliance.web.api_routes import EVERYONE
from appliance.web.auth import login_csrf_token, require_role, set_login_csrf, source_of
from appliance.web.keys import CORE_KEY, SESSION_KEY, THROTTLE_KEY
from appliance.web.rendering import render, size_text
from storage.config import ProductionsConfig
from storage.paths import PathRefused
from storage.personnel import SpaceError
from storage.quota import QuotaError
from storage.spaces_api import DOWNLOAD, send_stream, store_of, unlock_personnel
from storage.store import (
    SPACES,
    HeldForScan,
    InfectedError,
    LockedError,
    Space,
)

routes = web.RouteTableDef()

# Why a retrieval code did not open a download, in the words the person reads.
RETRIEVAL_REFUSED: Final = {
    "slow": N_("Trop d'essais depuis cet appareil : patientez."),
    "bad_code": N_("Code inconnu ou expiré."),
    "bad_password": N_(
        "Mot de passe incorrect pour PERSONNEL. Laissez le champ vide pour "
        "télécharger seulement l'espace pédagogique."
    ),
}

# Types shown in the browser; anything else (HTML, SVG, scripts…) is only
# ever downloaded, so a pupil's file cannot run in the appliance's origin.
PREVIEW_TYPES: Final[dict[str, str]] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
    ".txt": "text/plain; charset=utf-8",
}


def _space(value: str | None) -> Space:
    return "personnel" if value == "personnel" else "pedagogical"


def _folder(value: str | None) -> str:
    return (value or "").strip("/")


def _back(space: Space, folder: str, message: str = "") -> str:
    query = {"espace": space, "dossier": folder}
    if message:
        query["message"] = message
    return "/fichiers?" + urllib.parse.urlencode(query)


@routes.get("/fichiers")
@require_role(*EVERYONE)
async def files_page(request: web.Request) -> web.StreamResponse:
    """Show a folder of one of my spaces, with upload, new folder and delete."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - require_role guarantees it
    store = store_of(request)
    core = request.app[CORE_KEY]
    space = _space(request.query.get("espace"))
    folder = _folder(request.query.get("dossier"))
    error = ""
    entries: list[dict[str, Any]] = []
    try:
        entries = await store.listing(session.token_hash, session.person_id, space, folder)
    except LockedError:
        error = "locked"
    except (SpaceError, FileNotFoundError):
        error = "absent"
    for entry in entries:
        path = posixpath.join(folder, entry["name"]) if folder else entry["name"]
        entry["path"] = path
        entry["href"] = (
            _back(space, path)
            if entry["folder"]
            else "/fichiers/telecharger?"
            + urllib.parse.urlencode({"espace": space, "chemin": path})
        )
        if not entry["folder"]:
            if posixpath.splitext(entry["name"])[1].lower() in PREVIEW_TYPES:
                entry["preview"] = "/fichiers/apercu?" + urllib.parse.urlencode(
                    {"espace": space, "chemin": path}
                )
            entry["size_text"] = size_text(entry["size"])
            entry["date"] = dt.datetime.fromtimestamp(
                entry["modified"], core.config.site.zone
            ).strftime("%d/%m/%Y %H:%M")
    used, _ = await store.usage(session.person_id, space)
    quota = store.quota_bytes(session.role, space)
    percent = min(100, round(100 * used / quota))
    warn = max(
        (w for w in core.config.section(ProductionsConfig).warn_percent if percent >= w), default=0
    )
    crumbs = []
    parts = folder.split("/") if folder else []
    for index, part in enumerate(parts):
        crumbs.append({"name": part, "href": _back(space, "/".join(parts[: index + 1]))})
    upload_action = "/fichiers/envoyer?" + urllib.parse.urlencode(
        {"espace": space, "dossier": folder, "csrf_token": session.csrf_token}
    )
    return render(
        request,
        "files.html",
        {
            "space": space,
            "spaces": SPACES,
            "folder": folder,
            "entries": entries,
            "crumbs": crumbs,
            "error": error,
            "message": request.query.get("message", ""),
            "used": size_text(used),
            "quota": size_text(quota),
            "percent": percent,
            "warn": warn,
            "upload_action": upload_action,
            "recovery_code": store.take_recovery_code(session.token_hash),
            "back_href": _back(space, posixpath.dirname(folder)) if folder else "",
        },
    )


async def _file_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(1 << 20):
        yield chunk


@routes.post("/fichiers/envoyer")
@require_role(*EVERYONE)
async def upload_form(request: web.Request) -> web.StreamResponse:
    """Store the files of a multipart form, one by one, streaming."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - require_role guarantees it
    store = store_of(request)
    space = _space(request.query.get("espace"))
    folder = _folder(request.query.get("dossier"))
    stored = 0
    message = ""
    if request.content_type != "multipart/form-data":
        raise web.HTTPSeeOther(_back(space, folder, "refused"))
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or not part.filename:
            continue
        name = posixpath.basename(part.filename.replace("\\", "/"))
        path = posixpath.join(folder, name) if folder else name
        try:
            await store.put(
                session.token_hash, session.person_id, session.role, space, path, _file_chunks(part)
            )
            stored += 1
        except HeldForScan:
            message = "held"
        except InfectedError:
            message = "infected"
        except QuotaError:
            message = "quota"
        except PathRefused:
            message = "name"
        except (SpaceError, LockedError, ScannerUnavailable):
            message = "refused"
        if message:
            break
    raise web.HTTPSeeOther(_back(space, folder, message or f"stored:{stored}"))


@routes.get("/fichiers/telecharger")
@require_role(*EVERYONE)
async def download_page(request: web.Request) -> web.StreamResponse:
    """Send one of my files."""
    space = _space(request.query.get("espace"))
    path = request.query.get("chemin", "")
    name = posixpath.basename(path)
    headers = {
        **DOWNLOAD,
        "Content-Disposition": "attachment; filename*=UTF-8''" + urllib.parse.quote(name),
    }
    return await _send_own_file(request, space, path, headers)


async def _send_own_file(
    request: web.Request, space: Space, path: str, headers: dict[str, str]
) -> web.StreamResponse:
    """Stream one of the session's person's files with ``headers``."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - require_role guarantees it
    store = store_of(request)
    try:
        size, stream = await store.open_file(session.token_hash, session.person_id, space, path)
    except (LockedError, SpaceError, FileNotFoundError) as err:
        raise web.HTTPNotFound(text="fichier introuvable") from err
    return await send_stream(request, headers, size, stream)


@routes.get("/fichiers/apercu")
@require_role(*EVERYONE)
async def preview_page(request: web.Request) -> web.StreamResponse:
    """Show one of my images, PDFs or text files in the browser."""
    space = _space(request.query.get("espace"))
    path = request.query.get("chemin", "")
    content_type = PREVIEW_TYPES.get(posixpath.splitext(path)[1].lower())
    if content_type is None:
        raise web.HTTPUnsupportedMediaType(text="aperçu impossible : téléchargez le fichier")
    headers = {
        "Content-Type": content_type,
        "Content-Disposition": "inline",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'",
    }
    return await _send_own_file(request, space, path, headers)


@routes.post("/fichiers/deverrouiller")
@require_role(*EVERYONE)
async def unlock_form(request: web.Request) -> web.StreamResponse:
    """Open PERSONNEL again with the old password or the recovery code (#16 scope 7)."""
    form = await request.post()
    outcome = await unlock_personnel(
        request,
        str(form.get("password", ""))[:256],
        old_password=str(form.get("old_password", ""))[:256],
        recovery_code=str(form.get("recovery_code", ""))[:64],
    )
    message = "unlocked" if outcome == "ok" else f"unlock_{outcome}"
    raise web.HTTPSeeOther(_back("personnel", "", message))


@routes.post("/fichiers/dossier")
@require_role(*EVERYONE)
async def folder_form(request: web.Request) -> web.StreamResponse:
    """Create a folder in the current one."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - require_role guarantees it
    form = await request.post()
    space = _space(str(form.get("espace", "")))
    folder = _folder(str(form.get("dossier", "")))
    name = str(form.get("nom", "")).strip().replace("/", "-")
    try:
        await store_of(request).make_folder(
            session.token_hash,
            session.person_id,
            space,
            posixpath.join(folder, name) if folder else name,
        )
    except PathRefused:
        raise web.HTTPSeeOther(_back(space, folder, "name")) from None
    except (SpaceError, LockedError):
        raise web.HTTPSeeOther(_back(space, folder, "refused")) from None
    raise web.HTTPSeeOther(_back(space, folder))


@routes.post("/fichiers/supprimer")
@require_role(*EVERYONE)
async def delete_form(request: web.Request) -> web.StreamResponse:
    """Delete one of my files or folders."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - require_role guarantees it
    form = await request.post()
    space = _space(str(form.get("espace", "")))
    path = str(form.get("chemin", ""))
    try:
        await store_of(request).delete(session.token_hash, session.person_id, space, path)
    except (SpaceError, LockedError, FileNotFoundError):
        raise web.HTTPSeeOther(_back(space, posixpath.dirname(path), "refused")) from None
    raise web.HTTPSeeOther(_back(space, posixpath.dirname(path), "deleted"))


@routes.post("/fichiers/renommer")
@require_role(*EVERYONE)
async def rename_form(request: web.Request) -> web.StreamResponse:
    """Rename one of my files or folders (same folder, new name)."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - require_role guarantees it
    form = await request.post()
    space = _space(str(form.get("espace", "")))
    path = str(form.get("chemin", ""))
    name = str(form.get("nom", "")).strip().replace("/", "-")
    folder = posixpath.dirname(path)
    try:
        await store_of(request).move(
            session.token_hash,
            session.person_id,
            space,
            path,
            posixpath.join(folder, name) if folder else name,
        )
    except PathRefused:
        raise web.HTTPSeeOther(_back(space, folder, "name")) from None
    except (SpaceError, LockedError, FileNotFoundError):
        raise web.HTTPSeeOther(_back(space, folder, "refused")) from None
    raise web.HTTPSeeOther(_back(space, folder, "renamed"))


@routes.get("/recuperer")
async def retrieval_page(request: web.Request) -> web.StreamResponse:
    """The page where someone who left downloads their work with a printed code (#8.21)."""
    return _retrieval_form(request)


def _retrieval_form(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    token = login_csrf_token(request)
    response = render(
        request, "retrieve.html", {"login_csrf": token, "error": error}, status=status
    )
    set_login_csrf(request, response, token)
    return response


@routes.post("/recuperer")
async def retrieval_submit(request: web.Request) -> web.StreamResponse:
    """Check the code (throttled per address) and stream the zip."""
    core = request.app[CORE_KEY]
    throttle = request.app[THROTTLE_KEY]
    form = await request.post()
    source = source_of(request)
    code = str(form.get("code", ""))[:64]
    decision = throttle.check("retrieval", source, time.monotonic(), known_device=False)
    if not decision.allowed:
        return _retrieval_form(request, RETRIEVAL_REFUSED["slow"], 429)
    store = store_of(request)
    person = await store.person_of_retrieval_code(code)
    if person is None:
        throttle.record_failure("retrieval", source, time.monotonic())
        await core.audit.record(
            actor="?", source=source, action="productions.retrieval", outcome="failure"
        )
        return _retrieval_form(request, RETRIEVAL_REFUSED["bad_code"], 403)
    throttle.record_success("retrieval", source)
    password = str(form.get("password", ""))[:256]
    identity: str | None = None
    if password and await store.has_personnel_key(person):
        # PERSONNEL's password is checked like a login: through the same throttle,
        # per account and source, and audited with its real outcome (issue #11, F4).
        account = person.casefold()
        if not throttle.check(account, source, time.monotonic(), known_device=False).allowed:
            await core.audit.record(
                actor=person, source=source, action="productions.retrieval",
                outcome="throttled",
            )  # fmt: skip
            return _retrieval_form(request, RETRIEVAL_REFUSED["slow"], 429)
        identity = await store.open_identity(person, password)
        if identity is None:
            throttle.record_failure(account, source, time.monotonic())
            await core.audit.record(
                actor=person, source=source, action="productions.retrieval",
                outcome="failure", detail="wrong PERSONNEL password",
            )  # fmt: skip
            return _retrieval_form(request, RETRIEVAL_REFUSED["bad_password"], 403)
        throttle.record_success(account, source)
    await core.audit.record(
        actor=person, source=source, action="productions.retrieval", outcome="success",
        detail="with PERSONNEL" if identity else "pedagogical space only",
    )  # fmt: skip
    headers = {
        "Content-Type": "application/zip",
        "Content-Disposition": 'attachment; filename="mes-travaux.zip"',
    }
    return await send_stream(
        request, headers, None, lambda write: store.export_for_retrieval(person, identity, write)
    )

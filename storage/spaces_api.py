"""Each person's two spaces over the JSON API: list, upload, download, delete.

Everybody reaches only their own spaces (the session's person); the API has
no parameter naming another person, so no role, referent included, can ask
for someone else's PERSONNEL (#7.30, #7.31, #8.11). Uploads are the raw
request body, streamed; downloads stream back with their exact length.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web
from pydantic import ConfigDict, Field

from appliance.antivirus import ScannerUnavailable
from appliance.i18n import N_
from appliance.web.api_routes import EVERYONE, ApiRoutes, Body, Query, parsed_query
from appliance.web.auth import check_own_password, source_of
from appliance.web.errors import error
from appliance.web.keys import CORE_KEY, SESSION_KEY
from appliance.web.rendering import request_gettext
from storage import vault
from storage.config import ProductionsConfig
from storage.paths import PathRefused, PathThroughFile
from storage.personnel import SpaceError
from storage.quota import QuotaError
from storage.replies import (
    Deleted,
    Erased,
    ErasedRemotely,
    FileStored,
    FolderCreated,
    ListingReply,
    Moved,
    RetrievalCode,
    SpacesReply,
    StorageReply,
    Unlocked,
)
from storage.store import (
    SPACES,
    HeldForScan,
    InfectedError,
    LockedError,
    ProductionsStore,
    Space,
)

api = ApiRoutes()
MESSAGES: Final = {
    "infected": N_(
        "Fichier refusé : l'antivirus y a trouvé %(signature)s. Rien n'a été enregistré."
    ),
    "antivirus": N_(
        "L'antivirus ne répond pas : le fichier n'a pas été enregistré, réessayez "
        "dans quelques minutes."
    ),
    "held": N_(
        "L'antivirus ne répond pas : le fichier est mis de côté et apparaîtra dès qu'il "
        "aura été analysé."
    ),
}


def store_of(request: web.Request) -> ProductionsStore:
    """Return the one productions store of the request's appliance."""
    return request.app[CORE_KEY].shared(ProductionsStore)


def held(request: web.Request, err: HeldForScan) -> web.Response:
    """The answer to an upload kept aside until clamd can scan it."""
    message = request_gettext(request)(MESSAGES["held"])
    return web.json_response({"held": True, "size": err.size, "message": message}, status=202)


# Paths are never stripped: the one path check sees them as they were sent.
RAW_PATHS: Final = ConfigDict(str_strip_whitespace=False)


class FolderBody(Body):
    """A folder to create."""

    model_config = RAW_PATHS
    path: str = Field(min_length=1, max_length=1024)


class MoveBody(Body):
    """Rename or move: from one path to another in the same space."""

    model_config = RAW_PATHS
    source: str = Field(min_length=1, max_length=1024)
    target: str = Field(min_length=1, max_length=1024)


class UnlockBody(Body):
    """Open PERSONNEL after a password change made in the directory."""

    password: str = Field(min_length=1, max_length=256)
    old_password: str = Field("", max_length=256)
    recovery_code: str = Field("", max_length=64)


async def send_stream(
    request: web.Request,
    headers: dict[str, str],
    size: int | None,
    produce: Callable[[Callable[[bytes | bytearray], Awaitable[None]]], Awaitable[None]],
) -> web.StreamResponse:
    """Answer with a streamed body: ``produce`` writes it chunk by chunk."""
    response = web.StreamResponse(headers={"Cache-Control": "no-store", **headers})
    if size is not None:
        response.content_length = size
    await response.prepare(request)
    await produce(response.write)
    await response.write_eof()
    return response


DOWNLOAD: Final = {
    "Content-Type": "application/octet-stream",
    "Content-Disposition": "attachment",
    "X-Content-Type-Options": "nosniff",
}


def _space(request: web.Request) -> Space:
    space = request.match_info["space"]
    if space not in SPACES:
        raise web.HTTPNotFound(text="unknown space")
    return space


def _who(request: web.Request) -> tuple[str, str, str]:
    session = request[SESSION_KEY]
    if session is None:  # require_role guarantees a session
        raise web.HTTPUnauthorized
    return session.token_hash, session.person_id, session.role


def _refusal(err: Exception) -> web.Response:
    if isinstance(err, InfectedError):
        return error(422, "infected", MESSAGES["infected"], signature=err.signature)
    if isinstance(err, ScannerUnavailable):
        return error(503, "antivirus_unavailable", MESSAGES["antivirus"])
    if isinstance(err, LockedError):
        return error(423, "locked", err)
    if isinstance(err, QuotaError):
        return error(413, "quota", err)
    if isinstance(err, PathThroughFile):
        return error(409, "path", err)
    if isinstance(err, PathRefused):
        return error(400, "path", err)
    if isinstance(err, FileNotFoundError):
        return error(404, "absent", N_("Fichier ou dossier introuvable."))
    return error(422, "invalid", err)


class PathQuery(Query):
    """Where in the space (empty: the top).

    Not stripped: a name ending in a control character ("0\\r") must meet the
    one path check as it was sent, and be refused as WebDAV refuses it.
    """

    model_config = RAW_PATHS

    path: str = Field(
        "", max_length=1024, description="A path inside the space, e.g. Maths/ex.pdf."
    )


@api.get(
    "/spaces",
    "My two spaces: use, capacity, PERSONNEL's lock.",
    roles=EVERYONE,
    response=SpacesReply,
)
async def spaces(request: web.Request) -> web.StreamResponse:
    """Both spaces: use, capacity, thresholds; PERSONNEL's lock; a new recovery code once."""
    store = store_of(request)
    session_hash, user, role = _who(request)
    warn = request.app[CORE_KEY].config.section(ProductionsConfig).warn_percent
    unlocked = store.keyring.sessions.get(session_hash)
    answer: dict[str, Any] = {}
    for space in SPACES:
        used, files = await store.usage(user, space)
        quota = store.quota_bytes(role, space)
        percent = 100 * used / quota
        answer[space] = {
            "used_bytes": used,
            "files": files,
            "quota_bytes": quota,
            "warning": max((w for w in warn if percent >= w), default=0),
        }
    answer["personnel"]["locked"] = unlocked is None or unlocked.identity is None
    answer["recovery_code"] = store.take_recovery_code(session_hash)
    return web.json_response(answer, headers={"Cache-Control": "no-store"})


@api.get(
    "/spaces/{space}/folder",
    "List a folder (?path=).",
    roles=EVERYONE,
    query=PathQuery,
    response=ListingReply,
)
async def folder(request: web.Request) -> web.StreamResponse:
    """List a folder (?path=, empty for the top)."""
    session_hash, user, _ = _who(request)
    try:
        entries = await store_of(request).listing(
            session_hash, user, _space(request), parsed_query(request, PathQuery).path
        )
    except (LockedError, SpaceError, FileNotFoundError) as err:
        return _refusal(err)
    return web.json_response({"entries": entries}, headers={"Cache-Control": "no-store"})


@api.post(
    "/spaces/{space}/folder",
    "Create a folder.",
    body=FolderBody,
    roles=EVERYONE,
    success=201,
    response=FolderCreated,
)
async def make_folder(request: web.Request, body: FolderBody) -> web.StreamResponse:
    """Create a folder."""
    session_hash, user, _ = _who(request)
    try:
        await store_of(request).make_folder(session_hash, user, _space(request), body.path)
    except (LockedError, SpaceError) as err:
        return _refusal(err)
    return web.json_response({"path": body.path}, status=201)


@api.put(
    "/spaces/{space}/file",
    "Upload a file (?path=; raw body).",
    roles=EVERYONE,
    success=201,
    query=PathQuery,
    response=FileStored,
)
async def upload(request: web.Request) -> web.StreamResponse:
    """Store the request body at ?path= (replacing an older version atomically)."""
    session_hash, user, role = _who(request)
    store = store_of(request)
    limit = request.app[CORE_KEY].config.section(ProductionsConfig).max_upload_mb * 1_000_000
    if request.content_length is not None and request.content_length > limit:
        return error(
            413,
            "too_large",
            N_("Fichier trop gros : %(most)s Mo au plus (productions.max_upload_mb)."),
            most=limit // 1_000_000,
        )
    try:
        size = await store.put(
            session_hash,
            user,
            role,
            _space(request),
            parsed_query(request, PathQuery).path,
            request.content.iter_chunked(1 << 20),
        )
    except HeldForScan as err:
        return held(request, err)
    except (LockedError, SpaceError, ScannerUnavailable) as err:
        return _refusal(err)
    return web.json_response(
        {"path": parsed_query(request, PathQuery).path, "size": size}, status=201
    )


@api.get(
    "/spaces/{space}/file",
    "Download a file (?path=).",
    roles=EVERYONE,
    query=PathQuery,
    media="application/octet-stream",
)
async def download(request: web.Request) -> web.StreamResponse:
    """Stream the file at ?path=."""
    session_hash, user, _ = _who(request)
    store = store_of(request)
    space = _space(request)
    path = parsed_query(request, PathQuery).path
    try:
        size, stream = await store.open_file(session_hash, user, space, path)
    except (LockedError, SpaceError, FileNotFoundError) as err:
        return _refusal(err)
    return await send_stream(request, DOWNLOAD, size, stream)


@api.post(
    "/spaces/{space}/move",
    "Rename or move a file or folder.",
    body=MoveBody,
    roles=EVERYONE,
    response=Moved,
)
async def move(request: web.Request, body: MoveBody) -> web.StreamResponse:
    """Rename or move a file or folder."""
    session_hash, user, _ = _who(request)
    try:
        await store_of(request).move(session_hash, user, _space(request), body.source, body.target)
    except (LockedError, SpaceError, FileNotFoundError) as err:
        return _refusal(err)
    return web.json_response({"source": body.source, "target": body.target})


@api.delete(
    "/spaces/{space}/file",
    "Delete a file or folder (?path=).",
    roles=EVERYONE,
    query=PathQuery,
    response=Deleted,
)
async def delete(request: web.Request) -> web.StreamResponse:
    """Delete the file or folder at ?path=."""
    session_hash, user, _ = _who(request)
    path = parsed_query(request, PathQuery).path
    try:
        await store_of(request).delete(session_hash, user, _space(request), path)
    except (LockedError, SpaceError, FileNotFoundError) as err:
        return _refusal(err)
    return web.json_response({"deleted": path})


def _password_refused(checked: str, message: str) -> web.Response:
    if checked == "throttled":
        return error(429, "throttled", N_("Trop de mots de passe erronés : patientez un moment."))
    return error(403, "forbidden", message)


@api.post(
    "/spaces/personnel/unlock",
    "Open PERSONNEL after a directory password change (old password or code).",
    body=UnlockBody,
    roles=EVERYONE,
    response=Unlocked,
)
async def unlock(request: web.Request, body: UnlockBody) -> web.StreamResponse:
    """Open PERSONNEL with the old password or the recovery code; seal it anew."""
    outcome = await unlock_personnel(
        request, body.password, old_password=body.old_password, recovery_code=body.recovery_code
    )
    if outcome in ("wrong_password", "throttled"):
        return _password_refused(outcome, N_("Le mot de passe actuel est erroné."))
    if outcome == "wrong_key":
        return error(403, "forbidden", N_("Ancien mot de passe ou code de secours erroné."))
    return web.json_response({"locked": False})


async def unlock_personnel(
    request: web.Request, password: str, *, old_password: str, recovery_code: str
) -> str:
    """Open the session's PERSONNEL again after a password change (the API's and the page's).

    Return ``ok``, ``wrong_password`` (the current password), ``throttled``,
    or ``wrong_key`` (neither the old password nor the recovery code opens it).
    """
    session_hash, user, _ = _who(request)
    core = request.app[CORE_KEY]
    checked = await check_own_password(request, user, password, "personnel.unlock")
    if checked != "ok":
        return "throttled" if checked == "throttled" else "wrong_password"
    try:
        await store_of(request).reseal(
            session_hash,
            user,
            password,
            old_password=old_password,
            recovery_code=recovery_code,
        )
    except vault.VaultError:
        await core.audit.record(
            actor=user, source=source_of(request), action="personnel.unlock", outcome="failure"
        )
        return "wrong_key"
    return "ok"


@api.get(
    "/spaces/export", "All my work as one zip (#8.20).", roles=EVERYONE, media="application/zip"
)
async def export(request: web.Request) -> web.StreamResponse:
    """Download all my work as one zip (#8.20); PERSONNEL only when it is open."""
    session_hash, user, _ = _who(request)
    headers = {
        "Content-Type": "application/zip",
        "Content-Disposition": 'attachment; filename="mes-travaux.zip"',
    }
    store = store_of(request)
    return await send_stream(
        request, headers, None, lambda write: store.export(session_hash, user, write)
    )


class EraseBody(Body):
    """The owner's confirmation that PERSONNEL must go for good (#7.34)."""

    password: str = Field(min_length=1, max_length=256)
    confirm: str = Field(pattern="^EFFACER$")


@api.post(
    "/spaces/personnel/erase",
    "Erase my PERSONNEL for good (password and EFFACER).",
    body=EraseBody,
    roles=EVERYONE,
    response=Erased,
)
async def erase_own(request: web.Request, body: EraseBody) -> web.StreamResponse:
    """Erase my PERSONNEL irreversibly (its key first), on my password and "EFFACER"."""
    _, user, _ = _who(request)
    checked = await check_own_password(request, user, body.password, "personnel.erase")
    if checked != "ok":
        return _password_refused(checked, N_("Le mot de passe est erroné."))
    await store_of(request).erase_personnel(user, actor=user, source=source_of(request))
    return web.json_response({"erased": True})


@api.delete(
    "/people/{person_id}/personnel", "Erase a person's PERSONNEL remotely.", response=ErasedRemotely
)
async def erase_remote(request: web.Request) -> web.StreamResponse:
    """Erase a person's PERSONNEL remotely (#7.33): the referent destroys, never reads."""
    _, actor, _ = _who(request)
    person_id = request.match_info["person_id"]
    core = request.app[CORE_KEY]
    if await core.directory.person(person_id) is None:
        return error(404, "absent", N_("Personne introuvable."))
    await store_of(request).erase_personnel(person_id, actor=actor, source=source_of(request))
    return web.json_response({"erased": person_id})


class RetrievalBody(Body):
    """Why a code is printed for someone still in the directory (audited)."""

    reason: str = Field("", max_length=300)


@api.post(
    "/people/{person_id}/retrieval-code",
    "A code for someone who left to download their work (#8.21); a reason for others.",
    body=RetrievalBody,
    body_optional=True,
    success=201,
    response=RetrievalCode,
)
async def retrieval_code(request: web.Request, body: RetrievalBody) -> web.StreamResponse:
    """Print a code letting someone who left download their work (#8.21); shown once.

    CARMO #8.21 is for people who leave: someone the directory still lists
    logs in and exports their own work. A code for them is refused unless
    the referent records why (a pupil moving school before the directory
    says so, say); the reason goes to the audit log.
    """
    _, actor, _ = _who(request)
    person_id = request.match_info["person_id"]
    core = request.app[CORE_KEY]
    row = await core.db.fetchone("SELECT departed_at FROM people WHERE id = ?", (person_id,))
    if row is None:
        return error(404, "absent", N_("Personne introuvable."))
    reason = body.reason.strip()
    if row["departed_at"] is None and not reason:
        await core.audit.record(
            actor=actor, source=source_of(request), action="productions.retrieval_code",
            target=person_id, outcome="refused", detail="still in the directory, no reason",
        )  # fmt: skip
        return error(
            409,
            "present",
            "Cette personne est encore dans l'annuaire : elle peut se connecter et exporter "
            "ses travaux elle-même. Indiquez la raison pour imprimer un code quand même.",
        )
    code, expires = await store_of(request).create_retrieval_code(
        person_id, actor=actor, reason=reason
    )
    return web.json_response(
        {"code": code, "expires_at": expires, "page": "/recuperer"},
        status=201,
        headers={"Cache-Control": "no-store"},
    )


@api.get("/storage", "Use of every space against its capacity (no content).", response=StorageReply)
async def storage(request: web.Request) -> web.StreamResponse:
    """Use of every space against its capacity, and who passed a threshold (no content)."""
    core = request.app[CORE_KEY]
    store = store_of(request)
    warn = core.config.section(ProductionsConfig).warn_percent
    rows = await core.db.fetchall(
        "SELECT u.user, u.space, u.bytes, u.files, COALESCE(p.role, 'pupil') AS role"
        " FROM storage_usage u LEFT JOIN people p ON p.id = u.user ORDER BY u.user, u.space"
    )
    spaces: list[dict[str, Any]] = []
    for row in rows:
        quota = store.quota_bytes(row["role"], row["space"])
        percent = 100 * row["bytes"] / quota
        spaces.append(
            {
                "user": row["user"],
                "space": row["space"],
                "used_bytes": row["bytes"],
                "files": row["files"],
                "quota_bytes": quota,
                "warning": max((w for w in warn if percent >= w), default=0),
            }
        )
    return web.json_response(
        {"spaces": spaces, "over_threshold": [s for s in spaces if s["warning"]]}
    )

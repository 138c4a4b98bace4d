"""The private app store on the web: "Applications" for everyone, its management for
the referent, and the links devices and MDMs install from.

People see the packages assigned to them and install them over HTTPS: an
APK or an MSI downloads, an IPA opens through ``itms-services`` (which iOS
allows only over HTTPS with a trusted certificate). MDM links carry an
unguessable token instead of a session, as devices fetch them unattended.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any, Final

from aiohttp import BodyPartReader, web
from multidict import MultiDictProxy

from appliance.i18n import N_
from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY, SESSION_KEY
from appliance.web.rendering import page, say
from appstore import packages as appstore
from storage.config import ProductionsConfig

routes = web.RouteTableDef()

CONTENT_TYPES: Final = {
    "android": "application/vnd.android.package-archive",
    "ios": "application/octet-stream",
}


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f}".replace(".", ",") + " Mo"


async def send_package(package: dict[str, Any], request: web.Request) -> web.FileResponse:
    """Send a package file (Range and sendfile from aiohttp), with its SHA-256."""
    core = request.app[CORE_KEY]
    try:
        start = request.http_range.start
    except ValueError:  # a malformed Range: FileResponse answers 416, nothing begun
        start = -1
    if start in (None, 0):
        await appstore.count_download(core, int(package["id"]))
    path = appstore.package_files(core).path(str(package["sha256"]))
    quoted = urllib.parse.quote(str(package["filename"]))
    return web.FileResponse(
        path,
        headers={
            "Content-Type": CONTENT_TYPES.get(package["platform"], "application/octet-stream"),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quoted}",
            "X-Content-Type-Options": "nosniff",
            "Repr-Digest": f"sha-256=:{_b64(package['sha256'])}:",
        },
    )


def _b64(sha256: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256)).decode()


def install_link(package: dict[str, Any], request: web.Request) -> str:
    """Return the link that installs ``package`` on its platform."""
    origin = str(request.url.origin())
    if package["platform"] == "ios":
        manifest = f"{origin}/applis/ios/{package['mdm_token']}/manifest.plist"
        return "itms-services://?action=download-manifest&url=" + urllib.parse.quote(
            manifest, safe=""
        )
    return f"/applis/paquet/{package['id']}/{package['filename']}"


@routes.get("/applis")
@require_role("pupil", "teacher", "staff", "referent")
@page("apps.html")
async def apps_page(request: web.Request) -> dict[str, Any]:
    """List the applications assigned to me, with their install links."""
    core = request.app[CORE_KEY]
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - require_role guarantees it
    person = await core.directory.person(session.person_id)
    assigned = await appstore.assigned_to(core, person, session.role) if person else []
    return {
        "apps": [
            {**p, "size_text": _size(p["size"]), "link": install_link(p, request)} for p in assigned
        ],
        "https": request.url.scheme == "https",
    }


@routes.get("/applis/paquet/{package_id}/{filename}")
@require_role("pupil", "teacher", "staff", "referent")
async def package_download(request: web.Request) -> web.StreamResponse:
    """Download a package assigned to me (the referent: any)."""
    core = request.app[CORE_KEY]
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - require_role guarantees it
    try:
        wanted = int(request.match_info["package_id"])
    except ValueError:
        raise web.HTTPNotFound from None
    if session.role == "referent":
        package = await appstore.get_package(core, wanted)
    else:
        person = await core.directory.person(session.person_id)
        mine = await appstore.assigned_to(core, person, session.role) if person else []
        package = next((p for p in mine if p["id"] == wanted), None)
    if package is None or package["filename"] != request.match_info["filename"]:
        raise web.HTTPNotFound(text=say(request, N_("Application introuvable.")))
    return await send_package(package, request)


@routes.get("/applis/mdm/{token}/{filename}")
async def mdm_download(request: web.Request) -> web.StreamResponse:
    """Download a package by its MDM link (no session: the token is the right)."""
    package = await appstore.package_by_token(request.app[CORE_KEY], request.match_info["token"])
    if package is None or package["filename"] != request.match_info["filename"]:
        raise web.HTTPNotFound
    return await send_package(package, request)


@routes.get("/applis/ios/{token}/manifest.plist")
async def ios_manifest(request: web.Request) -> web.StreamResponse:
    """Return the in-house manifest an ``itms-services`` link points to."""
    package = await appstore.package_by_token(request.app[CORE_KEY], request.match_info["token"])
    if package is None or package["platform"] != "ios":
        raise web.HTTPNotFound
    url = f"{request.url.origin()}/applis/mdm/{package['mdm_token']}/{package['filename']}"
    return web.Response(body=appstore.ios_manifest(package, url), content_type="application/xml")


# -- the referent's side ---------------------------------------------------------------


@routes.get("/applis/gestion")
@require_role("referent")
@page("apps_admin.html")
async def admin_page(request: web.Request) -> dict[str, Any]:
    """List packages with their assignments; upload and assign."""
    core = request.app[CORE_KEY]
    origin = str(request.url.origin())
    packages = [
        {
            **p,
            "size_text": _size(p["size"]),
            "chosen": {(a["kind"], a["target"]) for a in p["assignments"]},
            "people": [a["target"] for a in p["assignments"] if a["kind"] == "person"],
            "mdm_url": f"{origin}/applis/mdm/{p['mdm_token']}/{p['filename']}",
        }
        for p in await appstore.packages(core)
    ]
    return {
        "packages": packages,
        "platforms": appstore.PLATFORMS,
        "scanned": core.config.section(ProductionsConfig).antivirus.enabled,
        "message": request.query.get("message", ""),
        "classes": await core.directory.classes(),
        "groups": await core.directory.group_names(),
        "roles": appstore.ROLES,
        "everyone": {
            row["id"]: row["display_name"]
            + (f" ({row['class_name']})" if row["class_name"] else "")
            for row in await core.db.fetchall(
                "SELECT id, display_name, class_name FROM people WHERE departed_at IS NULL"
                " ORDER BY display_name"
            )
        },
    }


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(1 << 20):
        yield chunk


@routes.post("/applis/gestion/envoi")
@require_role("referent")
async def upload_form(request: web.Request) -> web.StreamResponse:
    """Store a package from the form: its fields first, then the file, streamed."""
    fields: dict[str, str] = {}
    if request.content_type != "multipart/form-data":
        raise web.HTTPSeeOther(
            "/applis/gestion?message="
            + urllib.parse.quote(say(request, N_("file : aucun fichier envoyé")))
        )
    reader = await request.multipart()
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.filename:
                declared = appstore.Declared(
                    platform=fields.get("platform", ""),
                    name=fields.get("name", ""),
                    package_id=fields.get("package_id", ""),
                    version_name=fields.get("version_name", ""),
                    version_code=int(fields.get("version_code") or 0),
                    filename=part.filename.replace("\\", "/").rsplit("/", 1)[-1],
                    description=fields.get("description", ""),
                )
                await appstore.upload(
                    request.app[CORE_KEY], declared, _chunks(part),
                    actor=actor_of(request), source=source_of(request),
                )  # fmt: skip
                raise web.HTTPSeeOther("/applis/gestion?message=stored")
            if part.name:
                fields[part.name] = (await part.text())[:2000]
    except (appstore.StoreError, ValueError) as err:
        quoted = urllib.parse.quote(say(request, err)[:300])
        raise web.HTTPSeeOther(f"/applis/gestion?message={quoted}") from None
    raise web.HTTPSeeOther(
        "/applis/gestion?message="
        + urllib.parse.quote(say(request, N_("file : aucun fichier envoyé")))
    )


def picked_assignments(form: MultiDictProxy[Any]) -> list[tuple[str, str]]:
    """Return the assignments the picker's boxes and the people's field say."""
    assignments: list[tuple[str, str]] = [("school", "")] if form.get("school") == "1" else []
    for kind in ("role", "class", "group"):
        assignments += [(kind, str(value)) for value in form.getall(kind, [])]
    people = [str(login) for login in form.getall("person", [])]
    added = str(form.get("person_add", "")).strip()
    if added and added not in people:
        people.append(added)
    return assignments + [("person", login) for login in people]


@routes.post("/applis/gestion/{package_id}/affectations")
@require_role("referent")
async def assign_form(request: web.Request) -> web.StreamResponse:
    """Replace who may install a package."""
    form = await request.post()
    try:
        await appstore.set_assignments(
            request.app[CORE_KEY], int(request.match_info["package_id"]),
            picked_assignments(form),
            actor=actor_of(request), source=source_of(request),
        )  # fmt: skip
    except (appstore.StoreError, ValueError) as err:
        quoted = urllib.parse.quote(say(request, err)[:300])
        raise web.HTTPSeeOther(f"/applis/gestion?message={quoted}") from None
    raise web.HTTPSeeOther("/applis/gestion?message=assigned")


@routes.post("/applis/gestion/{package_id}/supprimer")
@require_role("referent")
async def remove_form(request: web.Request) -> web.StreamResponse:
    """Delete a package (its file too, when no other version record uses it)."""
    core = request.app[CORE_KEY]
    try:
        package_id = int(request.match_info["package_id"])
    except ValueError:
        raise web.HTTPNotFound from None
    await appstore.delete_package(
        core, package_id, actor=actor_of(request), source=source_of(request)
    )
    raise web.HTTPSeeOther("/applis/gestion?message=removed")

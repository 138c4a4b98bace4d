"""The private app store in the API: for the referent's scripts and the central MDM."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from appliance.i18n import N_
from appliance.web.api_routes import EVERYONE, ApiRoutes, Body, Query, parsed_query
from appliance.web.auth import actor_of, source_of
from appliance.web.errors import error
from appliance.web.keys import CORE_KEY, SESSION_KEY
from appstore import packages as appstore
from appstore.replies import (
    ManagedPlayApk,
    MyAppsReply,
    Package,
    PackageRemoved,
    PackagesReply,
)

api = ApiRoutes()


class AssignmentBody(Body):
    """One rule of who may install a package."""

    kind: Literal["school", "role", "class", "group", "person"]
    target: str = Field("", max_length=128)


class AssignmentsBody(Body):
    """Who may install a package (replaces the previous rules)."""

    assignments: list[AssignmentBody] = Field(max_length=500)


def _public(package: dict[str, object]) -> dict[str, object]:
    """Return a package without its MDM token (which is a download right)."""
    return {key: value for key, value in package.items() if key != "mdm_token"}


class PackageQuery(Query):
    """What the uploaded package is (the body is the file itself)."""

    platform: str = Field("", max_length=16, description="android, ios, windows, macos, linux.")
    name: str = Field("", max_length=200, description="The app's name shown to pupils.")
    package_id: str = Field("", max_length=200, description="Package or bundle identifier.")
    version_name: str = Field("", max_length=64, description="Version shown, e.g. 2.4.1.")
    version_code: int = Field(0, ge=0, description="Version number (Android).")
    filename: str = Field("", max_length=255, description="The file's name.")
    description: str = Field("", max_length=2000, description="What the app is for.")


@api.post(
    "/store/packages",
    "Add an app package (raw body; ?platform=&name=&package_id=&version_name=&filename=).",
    query=PackageQuery,
    success=201,
    response=Package,
)
async def add_package(request: web.Request) -> web.StreamResponse:
    """Store a package sent as the raw body; its metadata in the query string."""
    query = parsed_query(request, PackageQuery)
    try:
        declared = appstore.Declared(
            platform=query.platform,
            name=query.name,
            package_id=query.package_id,
            version_name=query.version_name,
            version_code=query.version_code,
            filename=query.filename,
            description=query.description,
        )
        package = await appstore.upload(
            request.app[CORE_KEY], declared, request.content.iter_chunked(1 << 20),
            actor=actor_of(request), source=source_of(request),
        )  # fmt: skip
    except appstore.StoreError as err:
        return error(422, "invalid", err)
    return web.json_response(_public(package), status=201)


@api.get(
    "/store/packages",
    "The school's app packages and their assignments.",
    response=PackagesReply,
)
async def list_packages(request: web.Request) -> web.StreamResponse:
    """Every package with its assignments and MDM link."""
    origin = request.url.origin()
    return web.json_response(
        {
            "packages": [
                {**_public(p), "mdm_url": f"{origin}/applis/mdm/{p['mdm_token']}/{p['filename']}"}
                for p in await appstore.packages(request.app[CORE_KEY])
            ]
        }
    )


def _package_id(request: web.Request) -> int | None:
    try:
        return int(request.match_info["package_id"])
    except ValueError:
        return None


@api.delete("/store/packages/{package_id}", "Remove an app package.", response=PackageRemoved)
async def remove_package(request: web.Request) -> web.StreamResponse:
    """Delete a package (and its file when no other record uses it)."""
    package_id = _package_id(request)
    if package_id is None or not await appstore.delete_package(
        request.app[CORE_KEY], package_id, actor=actor_of(request), source=source_of(request)
    ):
        return error(404, "absent", N_("Aucun paquet sous ce numéro."))
    return web.json_response({"removed": package_id})


@api.put(
    "/store/packages/{package_id}/assignments",
    "Who may install it.",
    body=AssignmentsBody,
    response=Package,
)
async def assign(request: web.Request, body: AssignmentsBody) -> web.StreamResponse:
    """Replace who may install a package."""
    core = request.app[CORE_KEY]
    package_id = _package_id(request)
    if package_id is None or await appstore.get_package(core, package_id) is None:
        return error(404, "absent", N_("Aucun paquet sous ce numéro."))
    try:
        await appstore.set_assignments(
            core, package_id, [(a.kind, a.target) for a in body.assignments],
            actor=actor_of(request), source=source_of(request),
        )  # fmt: skip
    except appstore.StoreError as err:
        return error(422, "invalid", err)
    package = await appstore.get_package(core, package_id)
    assert package is not None  # noqa: S101 - checked above
    return web.json_response(_public(package))


@api.get(
    "/store/packages/{package_id}/managed-play",
    "Managed Google Play's externally hosted APK definition.",
    response=ManagedPlayApk,
)
async def managed_play(request: web.Request) -> web.StreamResponse:
    """The externally hosted APK definition to give Managed Google Play."""
    core = request.app[CORE_KEY]
    package_id = _package_id(request)
    package = await appstore.get_package(core, package_id) if package_id is not None else None
    if package is None or package["platform"] != "android":
        return error(404, "absent", N_("Aucune application Android de ce nom."))
    url = f"{request.url.origin()}/applis/mdm/{package['mdm_token']}/{package['filename']}"
    return web.json_response(appstore.managed_play_definition(package, url))


@api.get("/store/mine", "The apps I may install.", roles=EVERYONE, response=MyAppsReply)
async def mine(request: web.Request) -> web.StreamResponse:
    """The packages I may install, with their install links."""
    from appstore.pages import install_link

    core = request.app[CORE_KEY]
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - require_role guarantees it
    person = await core.directory.person(session.person_id)
    assigned = await appstore.assigned_to(core, person, session.role) if person else []
    return web.json_response(
        {
            "packages": [
                {
                    key: p[key]
                    for key in ("id", "platform", "name", "package_id", "version_name", "size",
                                "sha256", "description")
                }
                | {"install": install_link(p, request)}
                for p in assigned
            ]
        }
    )  # fmt: skip

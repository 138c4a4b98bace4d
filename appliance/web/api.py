"""The JSON API under /api/v1, described by the OpenAPI document it serves.

Bodies are validated by pydantic models; a bad body gets 422 with the key and
the reason. Errors share one envelope: ``{"error": {"code", "message"}}``.
State-changing calls need the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from appliance import __doc__ as _package_doc
from appliance import filtering, portal_admin
from appliance.audit import utc_now_iso
from appliance.config import Role
from appliance.scheduler.closed_days import add_closed_day, list_closed_days, remove_closed_day
from appliance.site_status import services_status
from appliance.web.auth import (
    actor_of,
    attempt_login,
    logout,
    require_role,
    set_login_cookies,
    source_of,
)
from appliance.web.keys import CORE_KEY, SESSION_KEY, SESSIONS_KEY

API_PREFIX: Final = "/api/v1"
_ModelT = TypeVar("_ModelT", bound=BaseModel)
routes = web.RouteTableDef()


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginBody(_Body):
    """Credentials for opening a session."""

    login: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=256)


class ClosedDayBody(_Body):
    """An extra day the school is closed."""

    day: dt.date
    reason: str = Field(min_length=1, max_length=200)


class OverrideBody(_Body):
    """A timed filtering control (#9.2, #9.6)."""

    target_kind: Literal["class", "group", "clients"]
    target: str = Field(min_length=1, max_length=500)
    action: Literal["block_all", "allowlist_only", "block_domains", "tighten"]
    minutes: int = Field(ge=1, le=24 * 60)
    domains: list[str] = Field(default_factory=list, max_length=500)
    categories: list[str] = Field(default_factory=list, max_length=100)
    allowlist: str = Field("", max_length=64)
    reason: str = Field("", max_length=200)


class UnblockDecisionBody(_Body):
    """The referent's answer to an unblock request."""

    status: Literal["allowed", "refused"]


class PrestageItemBody(_Body):
    """One URL to fetch at night, with the publisher's SHA-256 if known."""

    url: str = Field(min_length=8, max_length=2000)
    sha256: str = Field("", max_length=64)


class PlanBody(_Body):
    """A pre-staging list: it replaces the plan's URLs (an empty list deletes the plan)."""

    items: list[PrestageItemBody] = Field(max_length=5000)


class PrestageRunBody(_Body):
    """Fetch the lists now, for at most this many hours."""

    hours: float = Field(4.0, gt=0, le=12)


class AssignmentBody(_Body):
    """One rule of who may install a package."""

    kind: Literal["school", "role", "class", "group", "person"]
    target: str = Field("", max_length=128)


class AssignmentsBody(_Body):
    """Who may install a package (replaces the previous rules)."""

    assignments: list[AssignmentBody] = Field(max_length=500)


class ExtendBody(_Body):
    """More time for an open portal session."""

    minutes: int = Field(ge=1, le=24 * 60)


class VouchersBody(_Body):
    """Guest vouchers to create (the codes are returned once)."""

    count: int = Field(ge=1, le=200)
    minutes: int = Field(ge=1, le=7 * 1440)
    max_devices: int = Field(1, ge=1, le=5)
    valid_days: int = Field(7, ge=1, le=365)
    label: str = Field("", max_length=100)


def changes_body(section: type[BaseModel], name: str, doc: str) -> type[_Body]:
    """Return a body changing some keys of a config section, with the section's own bounds.

    One declaration validates the config file, the API and the pages (issue
    #11): every key is optional here, and each keeps its type, bounds and
    description (which the OpenAPI document shows).
    """
    fields: dict[str, Any] = {
        key: (field.annotation | None, FieldInfo.merge_field_infos(field, default=None))  # type: ignore[operator]
        for key, field in section.model_fields.items()
    }
    model: type[_Body] = create_model(name, __base__=_Body, __doc__=doc, **fields)
    return model


RoleBody = changes_body(
    portal_admin.PortalRoleConfig,
    "RoleBody",
    "Changes to one role's Wi-Fi rules (only the keys sent change; null clears).",
)


class CharterBody(_Body):
    """A new charter version (#7.48, #7.49)."""

    version: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    text: str = Field(min_length=1, max_length=20_000)


class DelegationBody(_Body):
    """A role granted to a person for one school (#5.25)."""

    person_id: str = Field(min_length=1, max_length=128)
    role: Literal["teacher", "staff", "referent"]
    school_uai: str = Field(pattern=r"^\d{7}[A-Z]$")


def error(status: int, code: str, message: str) -> web.Response:
    """Return the API's error envelope."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _body(request: web.Request, model: type[_ModelT]) -> _ModelT | web.Response:
    if request.content_type != "application/json":
        return error(415, "content_type", "send application/json")
    try:
        raw = await request.json()
    except ValueError:
        return error(400, "json", "body is not valid JSON")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in err.errors()
        )
        return error(422, "invalid", problems)


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented API operation."""

    method: str
    path: str
    summary: str
    body: type[BaseModel] | None = None
    roles: tuple[Role, ...] | None = ("referent",)
    success: int = 200


_STAFF: Final[tuple[Role, ...]] = ("teacher", "referent")
_ALL: Final[tuple[Role, ...]] = ("pupil", "teacher", "staff", "referent")

OPERATIONS: Final[list[Operation]] = [
    Operation(
        "post",
        "/session",
        "Log in; sets the session cookie, returns the CSRF token.",
        LoginBody,
        None,
    ),
    Operation("delete", "/session", "Log out.", None, ("pupil", "teacher", "staff", "referent")),
    Operation(
        "get", "/me", "The logged-in person.", None, ("pupil", "teacher", "staff", "referent")
    ),
    Operation("get", "/health", "Health of every service."),
    Operation("get", "/directory/classes", "Classes and their sizes."),
    Operation("get", "/directory/people", "People, optionally of one class (?class=)."),
    Operation("get", "/calendar/closed-days", "Extra closed days."),
    Operation("post", "/calendar/closed-days", "Add a closed day.", ClosedDayBody, success=201),
    Operation("delete", "/calendar/closed-days/{day}", "Remove a closed day."),
    Operation("get", "/jobs", "Maintenance jobs and their next run."),
    Operation("get", "/delegations", "Roles delegated per school."),
    Operation("post", "/delegations", "Delegate a role for a school.", DelegationBody, success=201),
    Operation("delete", "/delegations/{person_id}/{role}/{school_uai}", "Withdraw a delegation."),
    Operation("get", "/audit", "Latest audit entries (?limit=, at most 500)."),
    Operation("get", "/sessions", "Open login sessions (ASVS V7.4.5)."),
    Operation("get", "/filter/overrides", "Filtering overrides in force.", None, _STAFF),
    Operation("post", "/filter/overrides", "Add a timed override.", OverrideBody, _STAFF, 201),
    Operation("delete", "/filter/overrides/{override_id}", "End an override now.", None, _STAFF),
    Operation("get", "/filter/explain", "Why a domain is (not) blocked (?domain=&group=|client=)."),
    Operation("get", "/filter/lists", "Imported block lists and their statistics."),
    Operation("get", "/filter/unblock-requests", "Requests sent from the block page."),
    Operation(
        "get",
        "/filter/blocked",
        "Blocked queries by hour, group and domain (a posteriori control).",
    ),
    Operation(
        "post",
        "/filter/unblock-requests/{request_id}",
        "Answer an unblock request.",
        UnblockDecisionBody,
    ),
    Operation("delete", "/sessions/{person_id}", "End every session of a person."),
    Operation("get", "/portal/sessions", "Wi-Fi portal sessions with their devices."),
    Operation("delete", "/portal/sessions/{user}", "Log an account out of the Wi-Fi (kick)."),
    Operation(
        "post", "/portal/sessions/{user}/extend", "Give a Wi-Fi session more time.", ExtendBody
    ),
    Operation("get", "/portal/vouchers", "Guest vouchers (never their codes)."),
    Operation(
        "post",
        "/portal/vouchers",
        "Create guest vouchers; the codes are in this answer only.",
        VouchersBody,
        success=201,
    ),
    Operation("delete", "/portal/vouchers/{voucher_id}", "Revoke a voucher."),
    Operation("get", "/portal/roles", "Wi-Fi rules per role (preau.toml plus UI changes)."),
    Operation("post", "/portal/roles/{role}", "Change some of a role's Wi-Fi rules.", RoleBody),
    Operation("get", "/portal/charters", "Charter versions, newest first."),
    Operation("post", "/portal/charters", "Publish a charter version.", CharterBody, success=201),
    Operation(
        "get",
        "/portal/usage",
        "Wi-Fi usage (?from=&to= days, ?per=device|account, ?format=csv).",
    ),
    Operation("get", "/portal/alerts", "Accounts past the daily usage threshold."),
    Operation("get", "/portal/devices", "Devices seen by the BYOD DHCP server."),
    Operation("get", "/cache", "Update cache: traffic per day and class, top objects, plans."),
    Operation("put", "/cache/prestage/{plan}", "Replace a pre-staging list.", PlanBody),
    Operation("delete", "/cache/prestage/{plan}", "Delete a pre-staging list."),
    Operation("post", "/cache/prestage/runs", "Fetch the lists now.", PrestageRunBody, success=201),
    Operation(
        "post",
        "/store/packages",
        "Add an app package (raw body; ?platform=&name=&package_id=&version_name=&filename=).",
        success=201,
    ),
    Operation("get", "/store/packages", "The school's app packages and their assignments."),
    Operation("delete", "/store/packages/{package_id}", "Remove an app package."),
    Operation(
        "put", "/store/packages/{package_id}/assignments", "Who may install it.", AssignmentsBody
    ),
    Operation(
        "get",
        "/store/packages/{package_id}/managed-play",
        "Managed Google Play's externally hosted APK definition.",
    ),
    Operation("get", "/store/mine", "The apps I may install.", None, _ALL),
    Operation("get", "/spaces", "My two spaces: use, capacity, PERSONNEL's lock.", None, _ALL),
    Operation("get", "/spaces/{space}/folder", "List a folder (?path=).", None, _ALL),
    Operation("get", "/spaces/export", "All my work as one zip (#8.20).", None, _ALL),
    Operation("post", "/spaces/{space}/move", "Rename or move a file or folder.", None, _ALL),
    Operation("post", "/spaces/{space}/folder", "Create a folder.", None, _ALL, 201),
    Operation("get", "/spaces/{space}/file", "Download a file (?path=).", None, _ALL),
    Operation("put", "/spaces/{space}/file", "Upload a file (?path=; raw body).", None, _ALL, 201),
    Operation("delete", "/spaces/{space}/file", "Delete a file or folder (?path=).", None, _ALL),
    Operation(
        "post",
        "/spaces/personnel/unlock",
        "Open PERSONNEL after a directory password change (old password or code).",
        None,
        _ALL,
    ),
    Operation(
        "post",
        "/spaces/personnel/erase",
        "Erase my PERSONNEL for good (password and EFFACER).",
        None,
        _ALL,
    ),
    Operation("delete", "/people/{person_id}/personnel", "Erase a person's PERSONNEL remotely."),
    Operation("get", "/storage", "Use of every space against its capacity (no content)."),
    Operation(
        "post",
        "/people/{person_id}/retrieval-code",
        "A code for someone who left to download their work (#8.21); a reason for others.",
        None,
        ("referent",),
        201,
    ),
    Operation(
        "get", "/classes/{class_name}/distribution", "List a class's Distribution.", None, _ALL
    ),
    Operation(
        "get",
        "/classes/{class_name}/distribution/file",
        "Download a Distribution document.",
        None,
        _ALL,
    ),
    Operation(
        "put",
        "/classes/{class_name}/distribution/file",
        "Put a document in Distribution (teachers).",
        None,
        _ALL,
        201,
    ),
    Operation(
        "post",
        "/classes/{class_name}/assignments",
        "Open an assignment (Rendus).",
        None,
        _STAFF,
        201,
    ),
    Operation("get", "/classes/{class_name}/assignments", "A class's assignments.", None, _ALL),
    Operation(
        "put",
        "/classes/{class_name}/assignments/{assignment_id}/rendu",
        "Hand a file in (pupils, before the deadline).",
        None,
        _ALL,
        201,
    ),
    Operation(
        "get",
        "/classes/{class_name}/assignments/{assignment_id}/rendus",
        "Work handed in (teachers: all; a pupil: their own).",
        None,
        _ALL,
    ),
    Operation(
        "get",
        "/classes/{class_name}/assignments/{assignment_id}/rendus/{pupil}/file",
        "Download a handed-in file.",
        None,
        _ALL,
    ),
    Operation("get", "/openapi.json", "This document.", None, None),
]


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[^a-z0-9]+", "_", op.path.lower()).strip("_")
    return f"{op.method}_{words}"


def openapi_document() -> dict[str, Any]:
    """Build the OpenAPI 3.1 document of the API."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        }
    }
    error_ref = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    }
    for op in OPERATIONS:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": _operation_id(op),
            "responses": {
                str(op.success): {"description": "Success", "content": {"application/json": {}}},
            },
        }
        params = [part[1:-1] for part in op.path.split("/") if part.startswith("{")]
        if params:
            entry["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in params
            ]
        if op.body is not None:
            name = op.body.__name__
            schema = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))  # nested bodies become components too
            schemas[name] = schema
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                },
            }
            entry["responses"]["422"] = {"description": "Invalid body", **error_ref}
        if op.roles is not None:
            entry["security"] = [{"session": []}]
            entry["responses"]["401"] = {"description": "Not logged in", **error_ref}
            entry["responses"]["403"] = {"description": "Role not allowed or CSRF", **error_ref}
            if op.method != "get":
                entry["parameters"] = [
                    *entry.get("parameters", []),
                    {
                        "name": "X-CSRF-Token",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ]
        paths.setdefault(API_PREFIX + op.path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Préau appliance API",
            "version": "1",
            "description": (_package_doc or "").strip(),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "preau_session"}
            },
        },
    }


@routes.get(API_PREFIX + "/openapi.json")
async def openapi(request: web.Request) -> web.StreamResponse:
    """Serve the OpenAPI document."""
    return web.json_response(openapi_document())


@routes.post(API_PREFIX + "/session")
async def open_session(request: web.Request) -> web.StreamResponse:
    """Log in with JSON credentials."""
    body = await _body(request, LoginBody)
    if isinstance(body, web.Response):
        return body
    result = await attempt_login(request, body.login, body.password)
    if result.failure is not None or result.session is None or result.person is None:
        if result.failure == "throttled":
            response = error(
                429, "throttled", f"too many attempts; retry in {result.retry_after} s"
            )
            response.headers["Retry-After"] = str(result.retry_after)
            return response
        if result.failure == "directory_unreachable":
            return error(503, "directory_unreachable", "the directory is not answering")
        return error(401, str(result.failure), "login refused")
    response = web.json_response(
        {
            "person": {"id": result.person.id, "display_name": result.person.display_name},
            "role": result.session.role,
            "csrf_token": result.session.csrf_token,
            "expires_at": result.session.expires_at,
        }
    )
    set_login_cookies(request, response, result)
    return response


@routes.delete(API_PREFIX + "/session")
@require_role("pupil", "teacher", "staff", "referent", api=True)
async def close_session(request: web.Request) -> web.StreamResponse:
    """Log out."""
    await logout(request)
    return web.json_response({"ok": True})


@routes.get(API_PREFIX + "/me")
@require_role("pupil", "teacher", "staff", "referent", api=True)
async def me(request: web.Request) -> web.StreamResponse:
    """Return the logged-in person."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - guaranteed by require_role
    person = await request.app[CORE_KEY].directory.person(session.person_id)
    if person is None:
        return error(404, "unknown", "person not found")
    data = asdict(person)
    data["role"] = session.role
    data["groups"] = list(person.groups)
    return web.json_response(data)


@routes.get(API_PREFIX + "/health")
@require_role("referent", api=True)
async def health(request: web.Request) -> web.StreamResponse:
    """Return every service's health."""
    statuses = await services_status(request.app[CORE_KEY])
    return web.json_response({"services": [asdict(status) for status in statuses]})


@routes.get(API_PREFIX + "/directory/classes")
@require_role("referent", api=True)
async def classes(request: web.Request) -> web.StreamResponse:
    """List classes with their sizes."""
    rows = await request.app[CORE_KEY].db.fetchall(
        "SELECT g.name, g.school_uai, COUNT(m.person_id) AS members FROM groups g"
        " LEFT JOIN memberships m ON m.group_id = g.id WHERE g.kind = 'class'"
        " GROUP BY g.id ORDER BY g.name"
    )
    return web.json_response({"classes": [dict(row) for row in rows]})


@routes.get(API_PREFIX + "/directory/people")
@require_role("referent", api=True)
async def people(request: web.Request) -> web.StreamResponse:
    """List people, optionally of one class."""
    db = request.app[CORE_KEY].db
    columns = "id, display_name, role, school_uai, class_name, level, departed_at"
    chosen = request.query.get("class")
    if chosen:
        rows = await db.fetchall(
            f"SELECT {columns} FROM people WHERE class_name = ? ORDER BY id",  # noqa: S608
            (chosen,),
        )
    else:
        rows = await db.fetchall(f"SELECT {columns} FROM people ORDER BY id")  # noqa: S608
    return web.json_response({"people": [dict(row) for row in rows]})


@routes.get(API_PREFIX + "/calendar/closed-days")
@require_role("referent", api=True)
async def closed_days(request: web.Request) -> web.StreamResponse:
    """List the extra closed days."""
    return web.json_response({"closed_days": await list_closed_days(request.app[CORE_KEY])})


@routes.post(API_PREFIX + "/calendar/closed-days")
@require_role("referent", api=True)
async def create_closed_day(request: web.Request) -> web.StreamResponse:
    """Add a closed day; answered only once it is on disk."""
    body = await _body(request, ClosedDayBody)
    if isinstance(body, web.Response):
        return body
    created = await add_closed_day(
        request.app[CORE_KEY],
        body.day,
        body.reason,
        actor=actor_of(request),
        source=source_of(request),
    )
    return web.json_response(
        {"day": body.day.isoformat(), "reason": body.reason, "created": created},
        status=201 if created else 200,
    )


@routes.delete(API_PREFIX + "/calendar/closed-days/{day}")
@require_role("referent", api=True)
async def delete_closed_day(request: web.Request) -> web.StreamResponse:
    """Remove a closed day."""
    try:
        day = dt.date.fromisoformat(request.match_info["day"])
    except ValueError:
        return error(422, "invalid", "day: expected YYYY-MM-DD")
    removed = await remove_closed_day(
        request.app[CORE_KEY], day, actor=actor_of(request), source=source_of(request)
    )
    if not removed:
        return error(404, "absent", "no such closed day")
    return web.json_response({"removed": day.isoformat()})


@routes.get(API_PREFIX + "/jobs")
@require_role("referent", api=True)
async def jobs(request: web.Request) -> web.StreamResponse:
    """List the maintenance jobs with their next run as last planned."""
    rows = await request.app[CORE_KEY].db.fetchall(
        "SELECT s.job_id, s.next_run, r.last_success, r.last_error FROM job_schedule s"
        " LEFT JOIN job_runs r ON r.job_id = s.job_id ORDER BY s.job_id"
    )
    return web.json_response({"jobs": [dict(row) for row in rows]})


async def _administered_schools(request: web.Request) -> set[str]:
    core = request.app[CORE_KEY]
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - guaranteed by require_role
    schools = set()
    person = await core.directory.person(session.person_id)
    if person is not None and person.role == "referent":
        schools.add(person.school_uai)
    rows = await core.db.fetchall(
        "SELECT school_uai FROM role_grants WHERE person_id = ? AND role = 'referent'",
        (session.person_id,),
    )
    schools.update(row["school_uai"] for row in rows)
    return schools


@routes.get(API_PREFIX + "/delegations")
@require_role("referent", api=True)
async def delegations(request: web.Request) -> web.StreamResponse:
    """List delegations of the schools this referent administers."""
    mine = await _administered_schools(request)
    rows = await request.app[CORE_KEY].db.fetchall(
        "SELECT person_id, role, school_uai, granted_by, granted_at FROM role_grants"
        " ORDER BY school_uai, person_id"
    )
    return web.json_response(
        {"delegations": [dict(row) for row in rows if row["school_uai"] in mine]}
    )


@routes.post(API_PREFIX + "/delegations")
@require_role("referent", api=True)
async def grant(request: web.Request) -> web.StreamResponse:
    """Delegate a role for a school the caller administers (#5.25)."""
    body = await _body(request, DelegationBody)
    if isinstance(body, web.Response):
        return body
    core = request.app[CORE_KEY]
    known = {school.uai for school in core.config.site.schools}
    if body.school_uai not in known:
        return error(422, "invalid", f"school_uai: not a school of this site ({body.school_uai})")
    if body.school_uai not in await _administered_schools(request):
        return error(403, "forbidden", "you do not administer this school")
    if await core.directory.person(body.person_id) is None:
        return error(422, "invalid", f"person_id: unknown person {body.person_id}")
    async with core.db.write() as tx:
        created = await tx.execute(
            "INSERT OR IGNORE INTO role_grants"
            " (person_id, role, school_uai, granted_by, granted_at) VALUES (?, ?, ?, ?, ?)",
            (body.person_id, body.role, body.school_uai, actor_of(request), utc_now_iso()),
        )
    await core.audit.record(
        actor=actor_of(request),
        source=source_of(request),
        action="delegation.grant",
        target=f"{body.person_id}:{body.role}@{body.school_uai}",
        outcome="success",
    )
    return web.json_response(body.model_dump(), status=201 if created else 200)


@routes.delete(API_PREFIX + "/delegations/{person_id}/{role}/{school_uai}")
@require_role("referent", api=True)
async def withdraw(request: web.Request) -> web.StreamResponse:
    """Withdraw a delegation; the person's open sessions end."""
    core = request.app[CORE_KEY]
    info = request.match_info
    if info["school_uai"] not in await _administered_schools(request):
        return error(403, "forbidden", "you do not administer this school")
    removed = await core.db.execute_write(
        "DELETE FROM role_grants WHERE person_id = ? AND role = ? AND school_uai = ?",
        (info["person_id"], info["role"], info["school_uai"]),
    )
    if not removed:
        return error(404, "absent", "no such delegation")
    await request.app[SESSIONS_KEY].revoke_person(info["person_id"])
    await core.audit.record(
        actor=actor_of(request),
        source=source_of(request),
        action="delegation.withdraw",
        target=f"{info['person_id']}:{info['role']}@{info['school_uai']}",
        outcome="success",
    )
    return web.json_response({"removed": True})


@routes.get(API_PREFIX + "/audit")
@require_role("referent", api=True)
async def audit(request: web.Request) -> web.StreamResponse:
    """Return the latest audit entries."""
    try:
        limit = min(500, max(1, int(request.query.get("limit", "50"))))
    except ValueError:
        return error(422, "invalid", "limit: expected an integer")
    return web.json_response({"entries": await request.app[CORE_KEY].audit.recent(limit)})


@routes.get(API_PREFIX + "/sessions")
@require_role("referent", api=True)
async def sessions(request: web.Request) -> web.StreamResponse:
    """List the open sessions (never their tokens)."""
    now = time.time()
    rows = await request.app[CORE_KEY].db.fetchall(
        "SELECT person_id, role, source, created_at, last_seen, expires_at FROM sessions"
        " WHERE revoked_at IS NULL AND expires_at > ? AND last_seen + idle_limit > ?"
        " ORDER BY last_seen DESC",
        (now, now),
    )
    return web.json_response({"sessions": [dict(row) for row in rows]})


@routes.delete(API_PREFIX + "/sessions/{person_id}")
@require_role("referent", api=True)
async def end_sessions(request: web.Request) -> web.StreamResponse:
    """End every session of a person now (a lost phone, a departure)."""
    person_id = request.match_info["person_id"]
    ended = await request.app[SESSIONS_KEY].revoke_person(person_id)
    await request.app[CORE_KEY].audit.record(
        actor=actor_of(request),
        source=source_of(request),
        action="sessions.revoke",
        target=person_id,
        outcome=f"{ended} ended",
    )
    return web.json_response({"ended": ended})


@routes.get(API_PREFIX + "/filter/overrides")
@require_role("teacher", "referent", api=True)
async def filter_overrides(request: web.Request) -> web.StreamResponse:
    """List the overrides in force."""
    rows = await filtering.active_overrides(request.app[CORE_KEY])
    return web.json_response({"overrides": [row.as_json() for row in rows]})


@routes.post(API_PREFIX + "/filter/overrides")
@require_role("teacher", "referent", api=True)
async def add_filter_override(request: web.Request) -> web.StreamResponse:
    """Add a timed override; in force within a second, ends by itself."""
    body = await _body(request, OverrideBody)
    if isinstance(body, web.Response):
        return body
    session = request[SESSION_KEY]
    if session is not None and session.role == "teacher" and body.target_kind != "class":
        return error(403, "forbidden", "teachers target a class")
    try:
        row = await filtering.add_override(
            request.app[CORE_KEY],
            target_kind=body.target_kind,
            target=body.target,
            action=body.action,
            seconds=body.minutes * 60,
            domains=body.domains,
            categories=body.categories,
            allowlist=body.allowlist,
            reason=body.reason,
            actor=actor_of(request),
            source=source_of(request),
        )
    except filtering.FilterStateError as err:
        return error(422, "invalid", str(err))
    return web.json_response(row.as_json(), status=201)


@routes.delete(API_PREFIX + "/filter/overrides/{override_id}")
@require_role("teacher", "referent", api=True)
async def end_filter_override(request: web.Request) -> web.StreamResponse:
    """End an override now."""
    try:
        override_id = int(request.match_info["override_id"])
    except ValueError:
        return error(422, "invalid", "override_id: expected an integer")
    ended = await filtering.end_override(
        request.app[CORE_KEY], override_id, actor=actor_of(request), source=source_of(request)
    )
    if not ended:
        return error(404, "absent", "no such override in force")
    return web.json_response({"ended": override_id})


@routes.get(API_PREFIX + "/filter/explain")
@require_role("referent", api=True)
async def filter_explain(request: web.Request) -> web.StreamResponse:
    """Explain the decision for a domain and a group or client."""
    from filter.service import explain

    try:
        found = await explain(
            request.app[CORE_KEY],
            request.query.get("domain", ""),
            group=request.query.get("group", ""),
            address=request.query.get("client", ""),
        )
    except ValueError as err:
        return error(422, "invalid", str(err))
    decision = found.decision
    return web.json_response(
        {
            "domain": request.query.get("domain", ""),
            "group": found.client.group,
            "class": found.client.class_name,
            "blocked": decision.blocked,
            "action": decision.action,
            "rule": decision.rule,
            "category": decision.category,
            "list": decision.list_name,
            "matched": decision.matched.decode(),
            "target": decision.target.decode(),
            "overrides": [override.id for override in found.overrides],
        }
    )


@routes.get(API_PREFIX + "/filter/lists")
@require_role("referent", api=True)
async def filter_lists(request: web.Request) -> web.StreamResponse:
    """List the imported block lists."""
    return web.json_response({"lists": await filtering.registered_lists(request.app[CORE_KEY])})


@routes.get(API_PREFIX + "/filter/unblock-requests")
@require_role("referent", api=True)
async def unblock_requests(request: web.Request) -> web.StreamResponse:
    """List the unblock requests."""
    return web.json_response({"requests": await filtering.unblock_requests(request.app[CORE_KEY])})


@routes.post(API_PREFIX + "/filter/unblock-requests/{request_id}")
@require_role("referent", api=True)
async def answer_unblock_request(request: web.Request) -> web.StreamResponse:
    """Mark an unblock request allowed or refused."""
    body = await _body(request, UnblockDecisionBody)
    if isinstance(body, web.Response):
        return body
    try:
        request_id = int(request.match_info["request_id"])
    except ValueError:
        return error(422, "invalid", "request_id: expected an integer")
    changed = await filtering.answer_unblock_request(
        request.app[CORE_KEY],
        request_id,
        body.status,
        actor=actor_of(request),
        source=source_of(request),
    )
    if not changed:
        return error(404, "absent", "no such open request")
    return web.json_response({"id": request_id, "status": body.status})


@routes.get(API_PREFIX + "/filter/blocked")
@require_role("referent", api=True)
async def blocked_queries(request: web.Request) -> web.StreamResponse:
    """Export blocked-query records (by group, never by address); ?format=csv for a file."""
    rows = await request.app[CORE_KEY].db.fetchall(
        "SELECT hour, group_name, domain, category, count FROM filter_blocked"
        " ORDER BY hour DESC, count DESC LIMIT 100000"
    )
    if request.query.get("format") == "csv":
        lines = ["hour,group,domain,category,count"]
        lines += [
            f"{r['hour']},{r['group_name']},{r['domain']},{r['category']},{r['count']}"
            for r in rows
        ]
        return web.Response(
            text="\n".join(lines) + "\n",
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="preau-blocked.csv"'},
        )
    return web.json_response({"blocked": [dict(row) for row in rows]})


@routes.get(API_PREFIX + "/portal/sessions")
@require_role("referent", api=True)
async def portal_sessions(request: web.Request) -> web.StreamResponse:
    """List open Wi-Fi sessions."""
    return web.json_response({"sessions": await portal_admin.live_sessions(request.app[CORE_KEY])})


@routes.delete(API_PREFIX + "/portal/sessions/{user}")
@require_role("referent", api=True)
async def portal_kick(request: web.Request) -> web.StreamResponse:
    """Log an account out of every device."""
    user = request.match_info["user"]
    ended = await portal_admin.end_session(
        request.app[CORE_KEY], user, actor=actor_of(request), source=source_of(request)
    )
    if not ended:
        return error(404, "absent", "no such session")
    return web.json_response({"ended": user})


@routes.post(API_PREFIX + "/portal/sessions/{user}/extend")
@require_role("referent", api=True)
async def portal_extend(request: web.Request) -> web.StreamResponse:
    """Give a session more time."""
    body = await _body(request, ExtendBody)
    if isinstance(body, web.Response):
        return body
    user = request.match_info["user"]
    ends_at = await portal_admin.extend_session(
        request.app[CORE_KEY],
        user,
        body.minutes,
        actor=actor_of(request),
        source=source_of(request),
    )
    if ends_at is None:
        return error(404, "absent", "no such session")
    return web.json_response({"user": user, "ends_at": ends_at})


@routes.get(API_PREFIX + "/portal/vouchers")
@require_role("referent", api=True)
async def portal_vouchers(request: web.Request) -> web.StreamResponse:
    """List vouchers."""
    return web.json_response({"vouchers": await portal_admin.vouchers(request.app[CORE_KEY])})


@routes.post(API_PREFIX + "/portal/vouchers")
@require_role("referent", api=True)
async def portal_create_vouchers(request: web.Request) -> web.StreamResponse:
    """Create vouchers; their codes are returned here only."""
    body = await _body(request, VouchersBody)
    if isinstance(body, web.Response):
        return body
    created = await portal_admin.create_vouchers(
        request.app[CORE_KEY],
        count=body.count,
        minutes=body.minutes,
        max_devices=body.max_devices,
        valid_days=body.valid_days,
        label=body.label,
        actor=actor_of(request),
        source=source_of(request),
    )
    return web.json_response(
        {"vouchers": [{"id": i, "code": code} for i, code in created]},
        status=201,
        headers={"Cache-Control": "no-store"},
    )


@routes.delete(API_PREFIX + "/portal/vouchers/{voucher_id}")
@require_role("referent", api=True)
async def portal_revoke_voucher(request: web.Request) -> web.StreamResponse:
    """Revoke a voucher."""
    try:
        voucher_id = int(request.match_info["voucher_id"])
    except ValueError:
        return error(422, "invalid", "voucher_id: expected an integer")
    revoked = await portal_admin.revoke_voucher(
        request.app[CORE_KEY], voucher_id, actor=actor_of(request), source=source_of(request)
    )
    if not revoked:
        return error(404, "absent", "no such voucher in force")
    return web.json_response({"revoked": voucher_id})


@routes.get(API_PREFIX + "/portal/charters")
@require_role("referent", api=True)
async def portal_charters(request: web.Request) -> web.StreamResponse:
    """List charter versions with how many accepted each."""
    core = request.app[CORE_KEY]
    current = await portal_admin.current_charter(core)
    versions = await portal_admin.charters(core) or [current]
    return web.json_response(
        {
            "current": current.version,
            "charters": [
                {
                    **asdict(c),
                    "accepted": await portal_admin.acceptances(core, c.version),
                }
                for c in versions
            ],
        }
    )


@routes.post(API_PREFIX + "/portal/charters")
@require_role("referent", api=True)
async def portal_publish_charter(request: web.Request) -> web.StreamResponse:
    """Publish a charter version."""
    body = await _body(request, CharterBody)
    if isinstance(body, web.Response):
        return body
    try:
        charter = await portal_admin.publish_charter(
            request.app[CORE_KEY],
            version=body.version,
            text=body.text,
            actor=actor_of(request),
            source=source_of(request),
        )
    except portal_admin.PortalStateError as err:
        return error(422, "invalid", str(err))
    return web.json_response(asdict(charter), status=201)


@routes.get(API_PREFIX + "/portal/usage")
@require_role("referent", api=True)
async def portal_usage(request: web.Request) -> web.StreamResponse:
    """Export usage per account and day, or per device; JSON or CSV."""
    from appliance.web.portal_pages import usage_csv, usage_range

    core = request.app[CORE_KEY]
    try:
        first, last = usage_range(request.query, core)
    except portal_admin.PortalStateError as err:
        return error(422, "invalid", str(err))
    per_device = request.query.get("per") == "device"
    rows = await portal_admin.usage(core, first, last, per_device=per_device)
    if request.query.get("format") == "csv":
        return web.Response(
            text=usage_csv(rows, per_device),
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="preau-wifi.csv"'},
        )
    return web.json_response({"from": first, "to": last, "usage": rows})


@routes.get(API_PREFIX + "/portal/alerts")
@require_role("referent", api=True)
async def portal_alerts(request: web.Request) -> web.StreamResponse:
    """List usage alerts."""
    return web.json_response({"alerts": await portal_admin.alerts(request.app[CORE_KEY])})


@routes.get(API_PREFIX + "/portal/devices")
@require_role("referent", api=True)
async def portal_devices(request: web.Request) -> web.StreamResponse:
    """List the DHCP inventory."""
    return web.json_response({"devices": await portal_admin.dhcp_devices(request.app[CORE_KEY])})


@routes.get(API_PREFIX + "/portal/roles")
@require_role("referent", api=True)
async def portal_roles(request: web.Request) -> web.StreamResponse:
    """List each role's Wi-Fi rules."""
    roles = await portal_admin.role_settings(request.app[CORE_KEY])
    return web.json_response({name: role.model_dump() for name, role in roles.items()})


@routes.post(API_PREFIX + "/portal/roles/{role}")
@require_role("referent", api=True)
async def portal_set_role(request: web.Request) -> web.StreamResponse:
    """Change some of a role's rules."""
    body = await _body(request, RoleBody)
    if isinstance(body, web.Response):
        return body
    changes = {key: getattr(body, key) for key in body.model_fields_set}
    required = ("hard_minutes", "idle_minutes", "ends_with_school_day", "max_devices")
    for key in (*required, "concurrent"):
        if key in changes and changes[key] is None:
            return error(422, "invalid", f"{key}: cannot be empty")
    try:
        updated = await portal_admin.set_role_settings(
            request.app[CORE_KEY],
            request.match_info["role"],
            changes,
            actor=actor_of(request),
            source=source_of(request),
        )
    except portal_admin.PortalStateError as err:
        return error(422, "invalid", str(err))
    return web.json_response(updated.model_dump())

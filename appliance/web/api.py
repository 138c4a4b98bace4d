"""The JSON API under /api/v1, described by the OpenAPI document it serves.

Bodies are validated by pydantic models; a bad body gets 422 with the key and
the reason. Errors share one envelope: ``{"error": {"code", "message"}}``.
State-changing calls need the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict
from typing import Final, Literal

from aiohttp import web
from pydantic import Field

from appliance import __doc__ as _package_doc
from appliance.audit import utc_now_iso
from appliance.i18n import N_
from appliance.identity.directory import IdentityError
from appliance.scheduler.closed_days import add_closed_day, list_closed_days, remove_closed_day
from appliance.site_status import services_status
from appliance.web.api_routes import (
    API_TABLES_KEY,
    EVERYONE,
    ApiRoutes,
    Body,
    Query,
    openapi_document,
    parsed_query,
)
from appliance.web.auth import (
    actor_of,
    attempt_login,
    logout,
    set_login_cookies,
    source_of,
)
from appliance.web.errors import error
from appliance.web.keys import CORE_KEY, PENDING_LOGINS_KEY, SESSION_KEY, SESSIONS_KEY
from appliance.web.rendering import request_gettext
from appliance.web.replies import (
    AuditReply,
    ClassesReply,
    ClosedDayCreated,
    ClosedDayRemoved,
    ClosedDaysReply,
    Delegated,
    DelegationsReply,
    DelegationWithdrawn,
    HealthReply,
    JobsReply,
    LoggedOut,
    MeReply,
    OpenApiReply,
    PeopleReply,
    SessionOpened,
    SessionsEnded,
    SessionsReply,
    TeachingReply,
    TeachingSet,
)

api = ApiRoutes()
# A login's second step, as the API says it went wrong.
SECOND_FACTOR_FAILURES: Final = {
    "second_factor": (
        "second_factor_required",
        N_("Ce compte a la double authentification : envoyez aussi « code »."),
    ),
    "bad_code": ("bad_code", N_("Code de double authentification refusé.")),
    "second_factor_expired": ("bad_code", N_("Code de double authentification refusé.")),
    "clock": (
        "clock_unsynchronised",
        N_("L'horloge du boîtier n'est pas synchronisée : envoyez un code de secours."),
    ),
}


class LoginBody(Body):
    """Credentials for opening a session."""

    login: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=256)
    code: str | None = Field(
        None,
        max_length=32,
        description="The authenticator app's six digits, or a recovery code, when the person "
        "has a second factor (answered 401 second_factor_required without it).",
    )


class ClosedDayBody(Body):
    """An extra day the school is closed."""

    day: dt.date
    reason: str = Field(min_length=1, max_length=200)


class DelegationBody(Body):
    """A role granted to a person for one school (#5.25)."""

    person_id: str = Field(min_length=1, max_length=128)
    role: Literal["teacher", "staff", "referent"]
    school_uai: str = Field(pattern=r"^\d{7}[A-Z]$")


class TeachingBody(Body):
    """The classes the referent gives a teacher, besides the directory's (issue #13)."""

    classes: list[str] = Field(
        max_length=60, description="Class names as the school has them, e.g. 6A."
    )


class PeopleQuery(Query):
    """Whose people to list."""

    class_: str = Field("", alias="class", max_length=64, description="One class, e.g. 6A.")


class AuditQuery(Query):
    """How many audit entries."""

    limit: int = Field(50, ge=1, le=500, description="Latest entries, at most 500.")


@api.get("/openapi.json", "This document.", roles=None, response=OpenApiReply)
async def openapi(request: web.Request) -> web.StreamResponse:
    """Serve the OpenAPI document of every route table the app serves."""
    operations = [op for table in request.app[API_TABLES_KEY] for op in table.operations]
    return web.json_response(openapi_document(operations, (_package_doc or "").strip()))


@api.post(
    "/session",
    "Log in; sets the session cookie, returns the CSRF token.",
    body=LoginBody,
    roles=None,
    response=SessionOpened,
)
async def open_session(request: web.Request, body: LoginBody) -> web.StreamResponse:
    """Log in with JSON credentials."""
    result = await attempt_login(request, body.login, body.password, body.code)
    if result.failure is not None or result.session is None or result.person is None:
        if result.pending_token:
            # The API's login is one call: a waiting login is of no use to it.
            request.app[PENDING_LOGINS_KEY].close(result.pending_token)
        if result.failure in SECOND_FACTOR_FAILURES:
            code, message = SECOND_FACTOR_FAILURES[result.failure]
            return error(503 if code == "clock_unsynchronised" else 401, code, message)
        if result.failure == "throttled":
            response = error(
                429,
                "throttled",
                N_("Trop d'essais : réessayez dans %(seconds)s s."),
                seconds=result.retry_after,
            )
            response.headers["Retry-After"] = str(result.retry_after)
            return response
        if result.failure == "directory_unreachable":
            return error(
                503, "directory_unreachable", N_("L'annuaire ne répond pas : réessayez plus tard.")
            )
        return error(401, str(result.failure), N_("Identifiant ou mot de passe refusé."))
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


@api.delete("/session", "Log out.", roles=EVERYONE, response=LoggedOut)
async def close_session(request: web.Request) -> web.StreamResponse:
    """Log out."""
    await logout(request)
    return web.json_response({"ok": True})


@api.get("/me", "The logged-in person.", roles=EVERYONE, response=MeReply)
async def me(request: web.Request) -> web.StreamResponse:
    """Return the logged-in person."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - guaranteed by require_role
    person = await request.app[CORE_KEY].directory.person(session.person_id)
    if person is None:
        return error(404, "unknown", N_("Personne introuvable."))
    data = asdict(person)
    data["role"] = session.role
    data["groups"] = list(person.groups)
    data["teaches"] = await request.app[CORE_KEY].directory.classes_taught(person.id)
    return web.json_response(data)


@api.get("/health", "Health of every service.", response=HealthReply)
async def health(request: web.Request) -> web.StreamResponse:
    """Return every service's health."""
    statuses = await services_status(request.app[CORE_KEY])
    _ = request_gettext(request)
    return web.json_response(
        {
            "services": [
                {
                    "name": status.name,
                    "status": status.status,
                    "detail": _(status.detail, **status.values) if status.detail else "",
                    "updated_at": status.updated_at,
                }
                for status in statuses
            ]
        }
    )


@api.get("/directory/classes", "Classes and their sizes.", response=ClassesReply)
async def classes(request: web.Request) -> web.StreamResponse:
    """List classes with their sizes."""
    rows = await request.app[CORE_KEY].db.fetchall(
        "SELECT g.name, g.school_uai, COUNT(m.person_id) AS members FROM groups g"
        " LEFT JOIN memberships m ON m.group_id = g.id WHERE g.kind = 'class'"
        " GROUP BY g.id ORDER BY g.name"
    )
    return web.json_response({"classes": [dict(row) for row in rows]})


@api.get(
    "/directory/people",
    "People, optionally of one class (?class=).",
    query=PeopleQuery,
    response=PeopleReply,
)
async def people(request: web.Request) -> web.StreamResponse:
    """List people, optionally of one class."""
    db = request.app[CORE_KEY].db
    columns = "id, display_name, role, school_uai, class_name, level, departed_at"
    chosen = parsed_query(request, PeopleQuery).class_
    if chosen:
        rows = await db.fetchall(
            f"SELECT {columns} FROM people WHERE class_name = ? ORDER BY id",  # noqa: S608
            (chosen,),
        )
    else:
        rows = await db.fetchall(f"SELECT {columns} FROM people ORDER BY id")  # noqa: S608
    return web.json_response({"people": [dict(row) for row in rows]})


@api.get("/calendar/closed-days", "Extra closed days.", response=ClosedDaysReply)
async def closed_days(request: web.Request) -> web.StreamResponse:
    """List the extra closed days."""
    return web.json_response({"closed_days": await list_closed_days(request.app[CORE_KEY])})


@api.post(
    "/calendar/closed-days",
    "Add a closed day.",
    body=ClosedDayBody,
    success=201,
    response=ClosedDayCreated,
)
async def create_closed_day(request: web.Request, body: ClosedDayBody) -> web.StreamResponse:
    """Add a closed day; answered only once it is on disk."""
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


@api.delete("/calendar/closed-days/{day}", "Remove a closed day.", response=ClosedDayRemoved)
async def delete_closed_day(request: web.Request) -> web.StreamResponse:
    """Remove a closed day."""
    try:
        day = dt.date.fromisoformat(request.match_info["day"])
    except ValueError:
        return error(422, "invalid", N_("day : une date AAAA-MM-JJ est attendue"))
    removed = await remove_closed_day(
        request.app[CORE_KEY], day, actor=actor_of(request), source=source_of(request)
    )
    if not removed:
        return error(404, "absent", N_("Ce jour n'est pas un jour fermé."))
    return web.json_response({"removed": day.isoformat()})


@api.get("/jobs", "Maintenance jobs and their next run.", response=JobsReply)
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


@api.get("/delegations", "Roles delegated per school.", response=DelegationsReply)
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


@api.post(
    "/delegations",
    "Delegate a role for a school.",
    body=DelegationBody,
    success=201,
    response=Delegated,
)
async def grant(request: web.Request, body: DelegationBody) -> web.StreamResponse:
    """Delegate a role for a school the caller administers (#5.25)."""
    core = request.app[CORE_KEY]
    known = {school.uai for school in core.config.site.schools}
    if body.school_uai not in known:
        return error(
            422,
            "invalid",
            N_("school_uai : %(uai)s n'est pas un établissement de ce site"),
            uai=body.school_uai,
        )
    if body.school_uai not in await _administered_schools(request):
        return error(403, "forbidden", N_("Vous n'administrez pas cet établissement."))
    if await core.directory.person(body.person_id) is None:
        return error(
            422, "invalid", N_("person_id : personne inconnue (%(id)s)"), id=body.person_id
        )
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


@api.delete(
    "/delegations/{person_id}/{role}/{school_uai}",
    "Withdraw a delegation.",
    response=DelegationWithdrawn,
)
async def withdraw(request: web.Request) -> web.StreamResponse:
    """Withdraw a delegation; the person's open sessions end."""
    core = request.app[CORE_KEY]
    info = request.match_info
    if info["school_uai"] not in await _administered_schools(request):
        return error(403, "forbidden", N_("Vous n'administrez pas cet établissement."))
    removed = await core.db.execute_write(
        "DELETE FROM role_grants WHERE person_id = ? AND role = ? AND school_uai = ?",
        (info["person_id"], info["role"], info["school_uai"]),
    )
    if not removed:
        return error(404, "absent", N_("Cette délégation n'existe pas."))
    await request.app[SESSIONS_KEY].revoke_person(info["person_id"])
    await core.audit.record(
        actor=actor_of(request),
        source=source_of(request),
        action="delegation.withdraw",
        target=f"{info['person_id']}:{info['role']}@{info['school_uai']}",
        outcome="success",
    )
    return web.json_response({"removed": True})


@api.get(
    "/audit",
    "Latest audit entries (?limit=, at most 500).",
    query=AuditQuery,
    response=AuditReply,
)
async def audit(request: web.Request) -> web.StreamResponse:
    """Return the latest audit entries."""
    limit = parsed_query(request, AuditQuery).limit  # 1 to 500, checked by the route
    return web.json_response({"entries": await request.app[CORE_KEY].audit.recent(limit)})


@api.get("/sessions", "Open login sessions (ASVS V7.4.5).", response=SessionsReply)
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


@api.delete("/sessions/{person_id}", "End every session of a person.", response=SessionsEnded)
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


@api.get("/teaching", "Which classes each teacher teaches, and from where.", response=TeachingReply)
async def teaching(request: web.Request) -> web.StreamResponse:
    """List every teacher↔class link with its source (directory, timetable, referent)."""
    return web.json_response({"teaching": await request.app[CORE_KEY].directory.teaching()})


@api.put(
    "/people/{person_id}/classes",
    "Set the classes the referent gives a teacher (the directory's stay).",
    body=TeachingBody,
    response=TeachingSet,
)
async def set_teaching(request: web.Request, body: TeachingBody) -> web.StreamResponse:
    """Replace the referent's own links of one teacher; audited."""
    core = request.app[CORE_KEY]
    person_id = request.match_info["person_id"]
    try:
        await core.directory.set_classes_taught(person_id, body.classes)
    except IdentityError as err:
        return error(422, "invalid", err)
    await core.audit.record(
        actor=actor_of(request),
        source=source_of(request),
        action="teaching.set",
        target=person_id,
        outcome="success",
        detail=", ".join(body.classes),
    )
    return web.json_response(
        {"person_id": person_id, "classes": await core.directory.classes_taught(person_id)}
    )

"""The filter's JSON API: timed overrides, explanations, lists, unblock requests."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field

from appliance.csv_export import csv_text
from appliance.i18n import N_
from appliance.scheduler.lessons import control_end, next_control_end
from appliance.web.api_routes import STAFF, ApiRoutes, Body, Query, parsed_query
from appliance.web.auth import actor_of, source_of
from appliance.web.errors import error
from appliance.web.keys import CORE_KEY, SESSION_KEY
from filter import state as filtering
from filter.replies import (
    BlockedReply,
    Explanation,
    ListsReply,
    Override,
    OverrideEnded,
    OverrideExtended,
    OverridesReply,
    UnblockAnswered,
    UnblockRequestsReply,
)

api = ApiRoutes()
NOT_YOUR_CLASS = N_("Vous n'enseignez pas dans la classe « %(name)s ».")
NOT_YOURS_TO_CHANGE = N_(
    "Vous ne pouvez changer que les contrôles posés par un enseignant sur vos classes."
)


async def _taught(request: web.Request) -> list[str]:
    """Return the classes the session's teacher teaches (issue #13)."""
    session = request[SESSION_KEY]
    if session is None:
        return []
    return await request.app[CORE_KEY].directory.classes_taught(session.person_id)


class OverrideBody(Body):
    """A timed filtering control (#9.2, #9.6)."""

    target_kind: Literal["class", "subgroup", "group", "clients"] = Field(
        description="A class, a group of a class (its id, issue #13), a filtering group "
        "or addresses."
    )
    target: str = Field(min_length=1, max_length=500)
    action: Literal["block_all", "allowlist_only", "block_domains", "tighten"]
    minutes: int | None = Field(
        None,
        ge=1,
        le=24 * 60,
        description="How long; none: until the end of the current créneau (issue #13).",
    )
    domains: list[str] = Field(default_factory=list, max_length=500)
    categories: list[str] = Field(default_factory=list, max_length=100)
    allowlist: str = Field("", max_length=64)
    reason: str = Field("", max_length=200)


class UnblockDecisionBody(Body):
    """The referent's answer to an unblock request."""

    status: Literal["allowed", "refused"]


class ExplainQuery(Query):
    """The name to explain, and for whom."""

    domain: str = Field(min_length=1, max_length=253, description="The name asked.")
    group: str = Field("", max_length=64, description="A filtering group.")
    client: str = Field("", max_length=45, description="Or a device's address.")


class ExportQuery(Query):
    """JSON (default) or a CSV file."""

    format: Literal["json", "csv"] = Field("json", description="csv for a spreadsheet file.")


@api.get("/filter/overrides", "Filtering overrides in force.", roles=STAFF, response=OverridesReply)
async def filter_overrides(request: web.Request) -> web.StreamResponse:
    """List the overrides in force."""
    rows = await filtering.active_overrides(request.app[CORE_KEY])
    return web.json_response({"overrides": [row.as_json() for row in rows]})


@api.post(
    "/filter/overrides",
    "Add a timed override.",
    body=OverrideBody,
    roles=STAFF,
    success=201,
    response=Override,
)
async def add_filter_override(request: web.Request, body: OverrideBody) -> web.StreamResponse:
    """Add a timed override; in force within a second, ends by itself."""
    session = request[SESSION_KEY]
    role = session.role if session is not None else "referent"
    core = request.app[CORE_KEY]
    class_name = await filtering.target_class(core, body.target_kind, body.target)
    if role == "teacher":
        if body.target_kind not in ("class", "subgroup"):
            return error(
                403,
                "forbidden",
                N_("Un enseignant agit sur une classe ou un de ses groupes "
                   "(target_kind : class ou subgroup)."),
            )  # fmt: skip
        # A group that does not exist has no class: add_override refuses it (422).
        if (class_name or body.target_kind == "class") and class_name not in await _taught(request):
            return error(403, "forbidden", NOT_YOUR_CLASS, name=class_name)
    if body.minutes is not None:
        seconds = body.minutes * 60
    else:  # until the end of the current créneau (or the fallback length)
        now = dt.datetime.now(dt.UTC)
        teacher = session.person_id if session is not None and role == "teacher" else ""
        end, _lesson = await control_end(core, now, teacher=teacher, class_name=class_name)
        seconds = max(60, round((end - now).total_seconds()))
    try:
        row = await filtering.add_override(
            core,
            target_kind=body.target_kind,
            target=body.target,
            action=body.action,
            seconds=seconds,
            domains=body.domains,
            categories=body.categories,
            allowlist=body.allowlist,
            reason=body.reason,
            actor=actor_of(request),
            source=source_of(request),
            actor_role=role,
        )
    except filtering.FilterStateError as err:
        return error(422, "invalid", err)
    return web.json_response(row.as_json(), status=201)


async def _override_to_change(request: web.Request) -> tuple[int, web.Response | None]:
    """Return the override the path names, or the refusal: not a number, not yours."""
    try:
        override_id = int(request.match_info["override_id"])
    except ValueError:
        return 0, error(422, "invalid", N_("override_id : un nombre entier est attendu"))
    session = request[SESSION_KEY]
    role = session.role if session is not None else "referent"
    taught = await _taught(request) if role != "referent" else []
    if not await filtering.may_end(request.app[CORE_KEY], override_id, role=role, classes=taught):
        return override_id, error(403, "forbidden", NOT_YOURS_TO_CHANGE)
    return override_id, None


@api.post(
    "/filter/overrides/{override_id}/extend",
    "Extend an override to the end of the next créneau.",
    roles=STAFF,
    response=OverrideExtended,
)
async def extend_filter_override(request: web.Request) -> web.StreamResponse:
    """Move an override's end to the end of the créneau after the one it ends with."""
    override_id, refused = await _override_to_change(request)
    if refused is not None:
        return refused
    core = request.app[CORE_KEY]
    current = await filtering.override_expiry(core, override_id)
    if current is None:
        return error(404, "absent", N_("Aucune exception de filtrage en cours sous ce numéro."))
    end, lesson = await next_control_end(core, dt.datetime.fromtimestamp(current, dt.UTC))
    moved = await filtering.extend_override(
        core, override_id, end.timestamp(), actor=actor_of(request), source=source_of(request)
    )
    if not moved:
        return error(409, "too_long", N_("Un contrôle ne dure pas plus de %(hours)s h."), hours=24)
    return web.json_response(
        {"id": override_id, "expires_at": end.timestamp(), "creneau": lesson.name if lesson else ""}
    )


@api.delete(
    "/filter/overrides/{override_id}",
    "End an override now.",
    roles=STAFF,
    response=OverrideEnded,
)
async def end_filter_override(request: web.Request) -> web.StreamResponse:
    """End an override now."""
    override_id, refused = await _override_to_change(request)
    if refused is not None:
        return refused
    ended = await filtering.end_override(
        request.app[CORE_KEY], override_id, actor=actor_of(request), source=source_of(request)
    )
    if not ended:
        return error(404, "absent", N_("Aucune exception de filtrage en cours sous ce numéro."))
    return web.json_response({"ended": override_id})


@api.get(
    "/filter/explain",
    "Why a domain is (not) blocked (?domain=&group=|client=).",
    query=ExplainQuery,
    response=Explanation,
)
async def filter_explain(request: web.Request) -> web.StreamResponse:
    """Explain the decision for a domain and a group or client."""
    from filter.service import explain

    asked = parsed_query(request, ExplainQuery)
    try:
        found = await explain(
            request.app[CORE_KEY],
            asked.domain,
            group=asked.group,
            address=asked.client,
        )
    except ValueError as err:
        return error(422, "invalid", err)
    decision = found.decision
    return web.json_response(
        {
            "domain": asked.domain,
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


@api.get("/filter/lists", "Imported block lists and their statistics.", response=ListsReply)
async def filter_lists(request: web.Request) -> web.StreamResponse:
    """List the imported block lists."""
    return web.json_response({"lists": await filtering.registered_lists(request.app[CORE_KEY])})


@api.get(
    "/filter/unblock-requests",
    "Requests sent from the block page.",
    response=UnblockRequestsReply,
)
async def unblock_requests(request: web.Request) -> web.StreamResponse:
    """List the unblock requests."""
    return web.json_response({"requests": await filtering.unblock_requests(request.app[CORE_KEY])})


@api.post(
    "/filter/unblock-requests/{request_id}",
    "Answer an unblock request.",
    body=UnblockDecisionBody,
    response=UnblockAnswered,
)
async def answer_unblock_request(
    request: web.Request, body: UnblockDecisionBody
) -> web.StreamResponse:
    """Mark an unblock request allowed or refused."""
    try:
        request_id = int(request.match_info["request_id"])
    except ValueError:
        return error(422, "invalid", N_("request_id : un nombre entier est attendu"))
    changed = await filtering.answer_unblock_request(
        request.app[CORE_KEY],
        request_id,
        body.status,
        actor=actor_of(request),
        source=source_of(request),
    )
    if not changed:
        return error(404, "absent", N_("Aucune demande ouverte sous ce numéro."))
    return web.json_response({"id": request_id, "status": body.status})


@api.get(
    "/filter/blocked",
    "Blocked queries by hour, group and domain (a posteriori control).",
    query=ExportQuery,
    response=BlockedReply,
)
async def blocked_queries(request: web.Request) -> web.StreamResponse:
    """Export blocked-query records (by group, never by address); ?format=csv for a file."""
    rows = await request.app[CORE_KEY].db.fetchall(
        "SELECT hour, group_name, domain, category, count FROM filter_blocked"
        " ORDER BY hour DESC, count DESC LIMIT 100000"
    )
    if parsed_query(request, ExportQuery).format == "csv":
        columns = ("hour", "group_name", "domain", "category", "count")
        text = csv_text(
            ["hour", "group", "domain", "category", "count"],
            ([row[c] for c in columns] for row in rows),
        )
        return web.Response(
            text=text,
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="preau-blocked.csv"'},
        )
    return web.json_response({"blocked": [dict(row) for row in rows]})

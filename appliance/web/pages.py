"""Server-rendered pages of the admin UI (French first, works on a phone)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from aiohttp import web

from appliance.features import landing_page
from appliance.i18n import N_
from appliance.scheduler.closed_days import add_closed_day, remove_closed_day
from appliance.web.auth import (
    actor_of,
    attempt_login,
    login_csrf_token,
    logout,
    require_role,
    set_login_cookies,
    set_login_csrf,
    source_of,
)
from appliance.web.keys import CORE_KEY, SECOND_STEP_COOKIE, SESSION_KEY
from appliance.web.rendering import page, render, request_gettext, say

routes = web.RouteTableDef()
CODE_PAGE: Final = "/login/code"
DAY_EXPECTED: Final = N_("day : une date AAAA-MM-JJ est attendue")

# Why a login failed, in the words the person reads.
LOGIN_FAILURES: Final = {
    "bad_credentials": N_("Identifiant ou mot de passe incorrect."),
    "directory_unreachable": N_(
        "L'annuaire de l'établissement ne répond pas. Réessayez dans quelques minutes."
    ),
    "departed": N_(
        "Ce compte n'est plus actif dans l'établissement. Pour récupérer vos "
        "fichiers, demandez un code de récupération au référent numérique et "
        "ouvrez la page « Récupérer mes fichiers » (/recuperer)."
    ),
    "throttled": N_("Trop de tentatives. Réessayez dans %(seconds)s secondes."),
    "missing": N_("Saisissez votre identifiant et votre mot de passe."),
}


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    """Send people where they belong."""
    session = request[SESSION_KEY]
    if session is None:
        raise web.HTTPSeeOther("/login")
    raise web.HTTPSeeOther(landing_page(request.app[CORE_KEY].features, session.role))


def login_form(
    request: web.Request, *, error: str = "", login: str = "", status: int = 200
) -> web.Response:
    """Render the login form (with a fresh double-submit token)."""
    token = login_csrf_token(request)
    response = render(
        request, "login.html", {"login_csrf": token, "error": error, "login": login}, status=status
    )
    set_login_csrf(request, response, token)
    return response


def second_step(request: web.Request, pending_token: str) -> web.HTTPSeeOther:
    """Send a login whose password was right to the page asking for its code."""
    response = web.HTTPSeeOther(CODE_PAGE)
    response.set_cookie(
        SECOND_STEP_COOKIE,
        pending_token,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/login",
        max_age=300,
    )
    return response


@routes.get("/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    """Show the login form."""
    if request[SESSION_KEY] is not None:
        raise web.HTTPSeeOther("/")
    return login_form(request)


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the form and open a session."""
    form = await request.post()
    login = str(form.get("login", ""))
    password = str(form.get("password", ""))
    result = await attempt_login(request, login, password)
    if result.failure is None and result.session is not None:
        target = landing_page(request.app[CORE_KEY].features, result.session.role)
        response = web.HTTPSeeOther(target)
        set_login_cookies(request, response, result)
        raise response
    if result.failure == "second_factor":
        raise second_step(request, result.pending_token)
    _ = request_gettext(request)
    message = _(LOGIN_FAILURES[result.failure or "bad_credentials"], seconds=result.retry_after)
    status = 429 if result.failure == "throttled" else 401
    rendered = login_form(request, error=message, login=login[:128], status=status)
    if result.failure == "throttled":
        rendered.headers["Retry-After"] = str(result.retry_after)
    return rendered


@routes.post("/logout")
async def logout_submit(request: web.Request) -> web.StreamResponse:
    """End the session."""
    await logout(request)
    raise web.HTTPSeeOther("/login")


@routes.get("/directory")
@require_role("referent")
@page("directory.html")
async def directory(request: web.Request) -> dict[str, Any]:
    """Show classes, groups and people from the cached directory."""
    db = request.app[CORE_KEY].db
    chosen = request.query.get("class", "")
    classes = await db.fetchall(
        "SELECT g.id, g.name, COUNT(m.person_id) AS members FROM groups g"
        " LEFT JOIN memberships m ON m.group_id = g.id WHERE g.kind = 'class'"
        " GROUP BY g.id ORDER BY g.name"
    )
    groups = await db.fetchall(
        "SELECT g.id, g.name, COUNT(m.person_id) AS members FROM groups g"
        " LEFT JOIN memberships m ON m.group_id = g.id WHERE g.kind = 'group'"
        " GROUP BY g.id ORDER BY g.name"
    )
    if chosen:
        people = await db.fetchall(
            "SELECT * FROM people WHERE class_name = ? ORDER BY surname, given_name, id",
            (chosen,),
        )
    else:
        people = await db.fetchall(
            "SELECT * FROM people ORDER BY role DESC, class_name, surname, given_name, id"
        )
    return {"classes": classes, "groups": groups, "people": people, "chosen": chosen}


@routes.post("/settings/closed-days")
@require_role("referent")
async def add_closed_day_form(request: web.Request) -> web.StreamResponse:
    """Add an extra closed day from the settings form."""
    form = await request.post()
    try:
        day = dt.date.fromisoformat(str(form.get("day", "")))
    except ValueError as err:
        raise web.HTTPBadRequest(text=say(request, DAY_EXPECTED)) from err
    reason = str(form.get("reason", "")).strip()[:200] or "—"
    core = request.app[CORE_KEY]
    await add_closed_day(core, day, reason, actor=actor_of(request), source=source_of(request))
    raise web.HTTPSeeOther("/settings")


@routes.post("/settings/closed-days/delete")
@require_role("referent")
async def remove_closed_day_form(request: web.Request) -> web.StreamResponse:
    """Remove an extra closed day from the settings form."""
    form = await request.post()
    try:
        day = dt.date.fromisoformat(str(form.get("day", "")))
    except ValueError as err:
        raise web.HTTPBadRequest(text=say(request, DAY_EXPECTED)) from err
    core = request.app[CORE_KEY]
    await remove_closed_day(core, day, actor=actor_of(request), source=source_of(request))
    raise web.HTTPSeeOther("/settings")

"""Pages of the second factor: the login's code step, setting it up, API tokens.

Setting up is three screens, as in the apps people know: a button, then a
QR code (drawn here as SVG, nothing loaded from elsewhere) with the secret
in groups of four and a field for the first code, then the ten recovery
codes, shown once. Only a verified first code activates the factor. Turning
it off or printing new recovery codes asks for the password again; a
referent whom the configuration requires to keep one cannot turn it off.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Final, cast, get_args

import segno
from aiohttp import web

from appliance.features import landing_page
from appliance.free_text import TextRefused, checked_text
from appliance.i18n import N_
from appliance.identity import second_factor as rules
from appliance.problems import Problem
from appliance.web.api_tokens import MAX_DAYS, Scope
from appliance.web.auth import (
    SECOND_FACTOR_PAGE,
    attempt_second_step,
    check_own_password,
    login_csrf_token,
    require_role,
    set_login_cookies,
    set_login_csrf,
    source_of,
)
from appliance.web.keys import (
    API_TOKENS_KEY,
    CLOCK_KEY,
    CORE_KEY,
    PENDING_LOGINS_KEY,
    SECOND_FACTORS_KEY,
    SECOND_STEP_COOKIE,
    SESSION_KEY,
    SESSIONS_KEY,
)
from appliance.web.pages import CODE_PAGE, LOGIN_FAILURES, login_form
from appliance.web.rendering import render, request_gettext, say
from appliance.web.second_factor_api import issue_for_session
from appliance.web.sessions import WebSession

routes = web.RouteTableDef()
TOKENS_PAGE: Final = "/compte/jetons"
# Who may set up a second factor: everyone who runs something, not pupils.
HOLDERS: Final = ("teacher", "staff", "referent")

CODE_FAILURES: Final = {
    "bad_code": N_("Code incorrect. Saisissez le code à six chiffres affiché maintenant."),
    "clock": N_(
        "L'horloge du boîtier n'est pas encore synchronisée : les codes de l'application ne "
        "peuvent pas être vérifiés. Saisissez un code de secours, ou réessayez dans quelques "
        "minutes."
    ),
    "throttled": LOGIN_FAILURES["throttled"],
}
EXPIRED: Final = N_("Connexion expirée : saisissez à nouveau votre identifiant et mot de passe.")


def _code_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    token = login_csrf_token(request)
    response = render(
        request, "login_code.html", {"login_csrf": token, "error": error}, status=status
    )
    set_login_csrf(request, response, token)
    return response


@routes.get(CODE_PAGE)
async def code_page(request: web.Request) -> web.StreamResponse:
    """Ask for the code of a login whose password was right."""
    if request.app[PENDING_LOGINS_KEY].find(request.cookies.get(SECOND_STEP_COOKIE)) is None:
        raise web.HTTPSeeOther("/login")
    return _code_page(request)


@routes.post(CODE_PAGE)
async def code_submit(request: web.Request) -> web.StreamResponse:
    """Check the code; open the session when it is right."""
    form = await request.post()
    pending = request.cookies.get(SECOND_STEP_COOKIE, "")
    result = await attempt_second_step(request, pending, str(form.get("code", "")))
    if result.failure is None and result.session is not None:
        response = web.HTTPSeeOther(
            landing_page(request.app[CORE_KEY].features, result.session.role)
        )
        set_login_cookies(request, response, result)
        response.del_cookie(SECOND_STEP_COOKIE, path="/login")
        raise response
    _ = request_gettext(request)
    if result.failure == "second_factor_expired":
        expired = login_form(request, error=_(EXPIRED), status=401)
        expired.del_cookie(SECOND_STEP_COOKIE, path="/login")
        return expired
    failure = result.failure or "bad_code"
    message = _(CODE_FAILURES[failure], seconds=result.retry_after)
    status = {"clock": 503, "throttled": 429}.get(failure, 401)
    return _code_page(request, error=message, status=status)


def _session(request: web.Request) -> WebSession:
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - guaranteed by require_role
    return session


async def _setup_context(request: web.Request) -> dict[str, Any]:
    session = _session(request)
    enrolment = await request.app[SECOND_FACTORS_KEY].enrolment(session.person_id)
    config = request.app[CORE_KEY].config
    return {
        "enrolment": enrolment,
        "required": session.role == "referent" and config.web.second_factor_required,
        "clock_ok": request.app[CLOCK_KEY].synchronised(),
        "error": "",
        "qr_svg": "",
    }


def _qr_context(request: web.Request, secret: str) -> dict[str, Any]:
    session = _session(request)
    uri = rules.provisioning_uri(secret, session.person_id, request.app[CORE_KEY].config.site.name)
    # segno writes a complete, self-contained SVG; nothing here comes from a person.
    qr = segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff", title="")
    return {"qr_svg": qr, "secret_groups": rules.secret_groups(secret)}


@routes.get(SECOND_FACTOR_PAGE)
@require_role(*HOLDERS)
async def setup_page(request: web.Request) -> web.StreamResponse:
    """Show whether the second factor is on, and the way to set it up or change it."""
    return render(request, "second_factor.html", await _setup_context(request))


@routes.post(SECOND_FACTOR_PAGE + "/debut")
@require_role(*HOLDERS)
async def begin(request: web.Request) -> web.StreamResponse:
    """Draw a new secret and show its QR code with the field for the first code."""
    session = _session(request)
    factors = request.app[SECOND_FACTORS_KEY]
    if await factors.active(session.person_id):
        raise web.HTTPSeeOther(SECOND_FACTOR_PAGE)
    secret = await factors.begin(session.person_id)
    context = {**await _setup_context(request), **_qr_context(request, secret)}
    return render(request, "second_factor.html", context)


@routes.post(SECOND_FACTOR_PAGE + "/confirmer")
@require_role(*HOLDERS)
async def confirm(request: web.Request) -> web.StreamResponse:
    """Activate the factor on a right first code; show the recovery codes once."""
    session = _session(request)
    core = request.app[CORE_KEY]
    factors = request.app[SECOND_FACTORS_KEY]
    form = await request.post()
    code = str(form.get("code", ""))[:32]
    _ = request_gettext(request)
    context = await _setup_context(request)
    enrolment = context["enrolment"]
    if enrolment is None or enrolment.confirmed:
        raise web.HTTPSeeOther(SECOND_FACTOR_PAGE)
    if not context["clock_ok"]:
        context |= _qr_context(request, enrolment.secret) | {"error": _(CODE_FAILURES["clock"])}
        return render(request, "second_factor.html", context, status=503)
    codes = await factors.confirm(session.person_id, code, time.time())
    if codes is None:
        message = N_("Ce code ne correspond pas. Vérifiez l'heure du téléphone et réessayez.")
        context |= _qr_context(request, enrolment.secret) | {"error": _(message)}
        return render(request, "second_factor.html", context, status=400)
    await request.app[SESSIONS_KEY].mark_second_factor(session.token_hash, "totp")
    await core.audit.record(
        actor=session.person_id, source=source_of(request), action="second_factor.enable",
        target=session.person_id, outcome="success",
    )  # fmt: skip
    return render(request, "second_factor_codes.html", {"codes": codes})


async def _password_confirmed(request: web.Request, action: str) -> str | None:
    """Return an error message unless the form's password is the session's person's."""
    session = _session(request)
    form = await request.post()
    verdict = await check_own_password(
        request, session.person_id, str(form.get("password", "")), action
    )
    if verdict == "ok":
        return None
    _ = request_gettext(request)
    if verdict == "throttled":
        return _(N_("Trop de tentatives. Réessayez plus tard."))
    return _(N_("Mot de passe incorrect."))


@routes.post(SECOND_FACTOR_PAGE + "/codes")
@require_role(*HOLDERS)
async def renew_codes(request: web.Request) -> web.StreamResponse:
    """Print ten new recovery codes (the old ones stop working)."""
    session = _session(request)
    factors = request.app[SECOND_FACTORS_KEY]
    if not await factors.active(session.person_id):
        raise web.HTTPSeeOther(SECOND_FACTOR_PAGE)
    problem = await _password_confirmed(request, "second_factor.codes")
    if problem is not None:
        context = await _setup_context(request) | {"error": problem}
        return render(request, "second_factor.html", context, status=403)
    codes = await factors.renew_codes(session.person_id)
    await request.app[CORE_KEY].audit.record(
        actor=session.person_id, source=source_of(request), action="second_factor.codes",
        target=session.person_id, outcome="success",
    )  # fmt: skip
    return render(request, "second_factor_codes.html", {"codes": codes})


@routes.post(SECOND_FACTOR_PAGE + "/desactiver")
@require_role(*HOLDERS)
async def disable(request: web.Request) -> web.StreamResponse:
    """Turn the second factor off, unless the configuration requires it for this role."""
    session = _session(request)
    context = await _setup_context(request)
    _ = request_gettext(request)
    if context["required"]:
        context["error"] = _(
            N_("La configuration impose la double authentification aux référents.")
        )
        return render(request, "second_factor.html", context, status=403)
    problem = await _password_confirmed(request, "second_factor.disable")
    if problem is not None:
        return render(request, "second_factor.html", context | {"error": problem}, status=403)
    await request.app[SECOND_FACTORS_KEY].remove(session.person_id)
    await request.app[CORE_KEY].audit.record(
        actor=session.person_id, source=source_of(request), action="second_factor.disable",
        target=session.person_id, outcome="success",
    )  # fmt: skip
    raise web.HTTPSeeOther(SECOND_FACTOR_PAGE)


def _day(core_zone: dt.tzinfo, when: float | None) -> str:
    if when is None:
        return "—"
    return dt.datetime.fromtimestamp(when, core_zone).strftime("%d/%m/%Y %H:%M")


async def _tokens_context(request: web.Request) -> dict[str, Any]:
    session = _session(request)
    zone = request.app[CORE_KEY].config.site.zone
    rows = await request.app[API_TOKENS_KEY].listed(session.person_id)
    return {
        "tokens": [
            {
                "row": row,
                "created": _day(zone, row.created_at),
                "expires": _day(zone, row.expires_at),
                "used": _day(zone, row.last_used_at),
            }
            for row in rows
        ],
        "scopes": get_args(Scope),
        "max_days": MAX_DAYS,
        "error": "",
        "new_token": "",
    }


@routes.get(TOKENS_PAGE)
@require_role("referent")
async def tokens_page(request: web.Request) -> web.StreamResponse:
    """List the referent's API tokens, with the form for a new one."""
    return render(request, "api_tokens.html", await _tokens_context(request))


@routes.post(TOKENS_PAGE)
@require_role("referent")
async def issue_token(request: web.Request) -> web.StreamResponse:
    """Issue a token (shown once); a second factor, when set up, must be this session's."""
    form = await request.post()
    _ = request_gettext(request)
    name = str(form.get("name", "")).strip()
    scope = str(form.get("scope", ""))
    days_text = str(form.get("days", "90"))
    context = await _tokens_context(request)
    problem = token_request_problem(name, scope, days_text)
    if problem is not None:
        return render(
            request, "api_tokens.html", context | {"error": say(request, problem)}, status=400
        )
    issued = await issue_for_session(request, name, cast(Scope, scope), int(days_text))
    if isinstance(issued, str):
        return render(request, "api_tokens.html", context | {"error": _(issued)}, status=403)
    token, row = issued
    context = await _tokens_context(request)
    return render(request, "api_tokens.html", context | {"new_token": token, "new_row": row})


def token_request_problem(name: str, scope: str, days_text: str) -> str | Problem | None:
    """Return what is wrong with a new token's name, scope and lifetime, or None."""
    try:
        checked_text(name, 80, N_("Nom"), lines=False)
    except TextRefused as err:
        return err.problem
    if scope not in get_args(Scope):
        return N_("Portée : lecture seule ou lecture et écriture.")
    if not days_text.isdigit() or not 1 <= int(days_text) <= MAX_DAYS:
        return N_("Durée : un nombre de jours de 1 à 366.")
    return None


@routes.post(TOKENS_PAGE + "/{token_id}/revoquer")
@require_role("referent")
async def revoke_token(request: web.Request) -> web.StreamResponse:
    """Revoke one of the referent's tokens now."""
    session = _session(request)
    token_id = request.match_info["token_id"]
    if await request.app[API_TOKENS_KEY].revoke(token_id, session.person_id):
        await request.app[CORE_KEY].audit.record(
            actor=session.person_id, source=source_of(request), action="token.revoke",
            target=token_id, outcome="success",
        )  # fmt: skip
    raise web.HTTPSeeOther(TOKENS_PAGE)

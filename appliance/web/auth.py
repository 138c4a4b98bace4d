"""Logging in and out, for the form and the JSON API alike.

Every attempt is throttled first (:mod:`appliance.web.throttle`), then checked
by the directory facade, then written to the audit log, successful or not
(ASVS V16.3.1). The password never reaches a log line.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Final, Literal

from aiohttp import web

from appliance.config import Role
from appliance.i18n import N_
from appliance.identity.model import Person
from appliance.web.errors import error
from appliance.web.keys import (
    CLOCK_KEY,
    CORE_KEY,
    DEVICE_COOKIE,
    LOGIN_CSRF_COOKIE,
    PENDING_LOGINS_KEY,
    SECOND_FACTORS_KEY,
    SESSION_COOKIE,
    SESSION_KEY,
    SESSIONS_KEY,
    THROTTLE_KEY,
)
from appliance.web.sessions import DEVICE_COOKIE_DAYS, WebSession

_LOGGER = logging.getLogger(__name__)

MAX_LOGIN_LENGTH: Final = 128
MAX_PASSWORD_LENGTH: Final = 256
MAX_CODE_LENGTH: Final = 32

SECOND_FACTOR_PAGE: Final = "/compte/double-authentification"
SECOND_FACTOR_API: Final = "/api/v1/second-factor"
# What a referent still reaches while a required second factor is not set up.
SETUP_PATHS: Final = frozenset({"/account", "/api/v1/me", "/api/v1/session"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A login attempt's result, for the form or the API to present."""

    failure: str | None
    retry_after: int = 0
    token: str = ""
    session: WebSession | None = None
    person: Person | None = None
    device_token: str = ""
    # The waiting login's token, when the password was right and a code is due.
    pending_token: str = ""


def actor_of(request: web.Request) -> str:
    """Return who acts in ``request``, for the audit log ("?" without a session)."""
    session = request[SESSION_KEY]
    return session.person_id if session else "?"


def source_of(request: web.Request) -> str:
    """Return the client address used for limits (never X-Forwarded-For, ASVS V4.1.3)."""
    return request.remote or "unknown"


async def check_own_password(
    request: web.Request, person_id: str, password: str, action: str
) -> Literal["ok", "wrong", "throttled"]:
    """Check the session's person's password again (before erasing, re-sealing…).

    Through the login throttle, like a login: a stolen session is no free
    password oracle. A wrong password is audited under ``action``.
    """
    core = request.app[CORE_KEY]
    throttle = request.app[THROTTLE_KEY]
    source = source_of(request)
    if not password or len(password) > MAX_PASSWORD_LENGTH:
        return "wrong"
    if not throttle.check(person_id, source, time.monotonic()).allowed:
        return "throttled"
    outcome = await core.directory.authenticate(person_id, password)
    if outcome.person is None or outcome.person.id != person_id:
        throttle.record_failure(person_id, source, time.monotonic())
        await core.audit.record(
            actor=person_id, source=source, action=action, outcome="failure",
            detail="wrong password",
        )  # fmt: skip
        return "wrong"
    throttle.record_success(person_id, source)
    return "ok"


async def attempt_login(
    request: web.Request, login: str, password: str, code: str | None = None
) -> LoginResult:
    """Throttle, check and audit one login attempt; open a session on success.

    A person with an active second factor gets ``second_factor`` and a
    waiting login's token instead of a session, unless ``code`` (the API's
    one call) is given and right.
    """
    core = request.app[CORE_KEY]
    sessions = request.app[SESSIONS_KEY]
    throttle = request.app[THROTTLE_KEY]
    source = source_of(request)
    login = login.strip()
    if (
        not login
        or not password
        or len(login) > MAX_LOGIN_LENGTH
        or len(password) > MAX_PASSWORD_LENGTH
    ):
        return LoginResult("missing")
    account = login.casefold()
    known = await sessions.is_known_device(request.cookies.get(DEVICE_COOKIE), account)
    decision = throttle.check(account, source, time.monotonic(), known_device=known)
    if not decision.allowed:
        await core.audit.record(
            actor=account,
            source=source,
            action="login",
            outcome="throttled",
            detail=str(decision.reason),
        )
        return LoginResult("throttled", retry_after=max(1, round(decision.retry_after)))
    outcome = await core.directory.authenticate(login, password)
    if outcome.person is None or outcome.role is None:
        failure = outcome.failure or "bad_credentials"
        if failure == "bad_credentials":
            throttle.record_failure(account, source, time.monotonic())
        await core.audit.record(
            actor=account, source=source, action="login", outcome="failure", detail=failure
        )
        return LoginResult(failure)
    if await request.app[SECOND_FACTORS_KEY].active(outcome.person.id):
        # The right password alone resets nothing: the code is the login's last step.
        pending = request.app[PENDING_LOGINS_KEY].open(
            outcome.person, outcome.role, password, account, known
        )
        if code is None:
            return LoginResult("second_factor", pending_token=pending)
        return await attempt_second_step(request, pending, code)
    throttle.record_success(account, source)
    return await _open_session(
        request, outcome.person, outcome.role, password, account, known_device=known
    )


async def attempt_second_step(request: web.Request, pending_token: str, code: str) -> LoginResult:
    """Check a waiting login's code; open its session when it is right."""
    core = request.app[CORE_KEY]
    waiting = request.app[PENDING_LOGINS_KEY]
    throttle = request.app[THROTTLE_KEY]
    source = source_of(request)
    pending = waiting.find(pending_token)
    if pending is None:
        return LoginResult("second_factor_expired")
    decision = throttle.check(
        pending.account, source, time.monotonic(), known_device=pending.known_device
    )
    if not decision.allowed:
        return LoginResult("throttled", retry_after=max(1, round(decision.retry_after)))
    code = code.strip()[:MAX_CODE_LENGTH]
    verdict = await request.app[SECOND_FACTORS_KEY].check(
        pending.person.id, code, time.time(), clock_ok=request.app[CLOCK_KEY].synchronised()
    )
    if verdict == "clock":
        return LoginResult("clock", pending_token=pending_token)
    if verdict == "wrong":
        throttle.record_failure(pending.account, source, time.monotonic())
        given_up = waiting.failed(pending_token)
        await core.audit.record(
            actor=pending.person.id, source=source, action="login", outcome="failure",
            detail="wrong second factor",
        )  # fmt: skip
        if given_up:
            return LoginResult("second_factor_expired")
        return LoginResult("bad_code", pending_token=pending_token)
    waiting.close(pending_token)
    throttle.record_success(pending.account, source)
    return await _open_session(
        request,
        pending.person,
        pending.role,
        pending.password,
        pending.account,
        known_device=pending.known_device,
        second_factor=verdict,
    )


async def _open_session(
    request: web.Request,
    person: Person,
    role: Role,
    password: str,
    account: str,
    *,
    known_device: bool,
    second_factor: str = "",
) -> LoginResult:
    core = request.app[CORE_KEY]
    sessions = request.app[SESSIONS_KEY]
    token, session = await sessions.create(person.id, role, source_of(request), second_factor)
    for feature in core.features:
        if feature.sessions is not None and feature.sessions.on_login is not None:
            # The only moment the password is at hand (PERSONNEL's key opens with it).
            await feature.sessions.on_login(core, person.id, password, session.token_hash)
    device_token = "" if known_device else await sessions.remember_device(account)
    detail = f"role={role}" + (f" second_factor={second_factor}" if second_factor else "")
    await core.audit.record(
        actor=person.id, source=source_of(request), action="login", outcome="success",
        detail=detail,
    )  # fmt: skip
    return LoginResult(None, token=token, session=session, person=person, device_token=device_token)


def set_login_cookies(
    request: web.Request, response: web.StreamResponse, result: LoginResult
) -> None:
    """Set the session cookie (and the device cookie on a new device)."""
    core = request.app[CORE_KEY]
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
        max_age=core.config.web.session_absolute_hours * 3600,
    )
    if result.device_token:
        response.set_cookie(
            DEVICE_COOKIE,
            result.device_token,
            httponly=True,
            samesite="Strict",
            secure=request.secure,
            path="/",
            max_age=DEVICE_COOKIE_DAYS * 86_400,
        )
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")


def login_csrf_token(request: web.Request) -> str:
    """Return the login form's double-submit token (the cookie's, or a new one)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)


def set_login_csrf(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """Set the login form's double-submit cookie."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=request.secure, path="/"
    )


async def logout(request: web.Request) -> None:
    """Revoke the request's session and audit it."""
    session = request[SESSION_KEY]
    if session is None:
        return
    core = request.app[CORE_KEY]
    await request.app[SESSIONS_KEY].revoke(session.token_hash)
    for feature in core.features:
        if feature.sessions is not None and feature.sessions.on_logout is not None:
            feature.sessions.on_logout(core, session.token_hash)
    await core.audit.record(
        actor=session.person_id, source=source_of(request), action="logout", outcome="success"
    )


async def second_factor_due(request: web.Request, session: WebSession) -> bool:
    """Return whether this referent must set up a second factor before anything else.

    A token stands for its owner: while the configuration requires a second
    factor, a referent's token works only once the referent has one.
    """
    if session.role != "referent" or session.second_factor:
        return False
    if not request.app[CORE_KEY].config.web.second_factor_required:
        return False
    if session.token_scope:
        return not await request.app[SECOND_FACTORS_KEY].active(session.person_id)
    path = request.path
    return path not in SETUP_PATHS and not path.startswith((SECOND_FACTOR_PAGE, SECOND_FACTOR_API))


def require_role(*roles: Role, api: bool = False) -> Callable[[Handler], Handler]:
    """Only let sessions with one of ``roles`` reach the handler."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = request[SESSION_KEY]
            if session is None:
                if api:
                    return error(401, "unauthenticated", N_("Connectez-vous d'abord."))
                raise web.HTTPSeeOther("/login")
            if session.role not in roles:
                if api:
                    return error(403, "forbidden", N_("Votre rôle ne permet pas cette action."))
                raise web.HTTPSeeOther("/account")
            if await second_factor_due(request, session):
                if api:
                    return error(
                        403,
                        "second_factor_required",
                        N_(
                            "Activez d'abord la double authentification "
                            "(Mon compte › Double authentification)."
                        ),
                    )
                raise web.HTTPSeeOther(SECOND_FACTOR_PAGE)
            return await handler(request)

        return guarded

    return decorate

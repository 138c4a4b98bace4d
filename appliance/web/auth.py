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
    CORE_KEY,
    DEVICE_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_KEY,
    SESSIONS_KEY,
    THROTTLE_KEY,
)
from appliance.web.sessions import DEVICE_COOKIE_DAYS, WebSession

_LOGGER = logging.getLogger(__name__)

MAX_LOGIN_LENGTH: Final = 128
MAX_PASSWORD_LENGTH: Final = 256

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


async def attempt_login(request: web.Request, login: str, password: str) -> LoginResult:
    """Throttle, check and audit one login attempt; open a session on success."""
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
    throttle.record_success(account, source)
    token, session = await sessions.create(outcome.person.id, outcome.role, source)
    for feature in core.features:
        if feature.sessions is not None and feature.sessions.on_login is not None:
            # The only moment the password is at hand (PERSONNEL's key opens with it).
            await feature.sessions.on_login(core, outcome.person.id, password, session.token_hash)
    device_token = "" if known else await sessions.remember_device(account)
    await core.audit.record(
        actor=outcome.person.id,
        source=source,
        action="login",
        outcome="success",
        detail=f"role={outcome.role}",
    )
    return LoginResult(
        None, token=token, session=session, person=outcome.person, device_token=device_token
    )


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
            return await handler(request)

        return guarded

    return decorate

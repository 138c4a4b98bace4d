"""Middlewares: sessions, CSRF protection and security headers.

CSRF (ASVS V3.5.1, V3.5.3): every state-changing request must carry a valid
token, either the session's (form field ``csrf_token`` or header
``X-CSRF-Token``) or, for the login form, the double-submit token of the login
page. On top of that, a browser's ``Sec-Fetch-Site`` or ``Origin`` saying the
request comes from another site is refused outright (Go's
CrossOriginProtection). Safe methods never change state.

Headers (ASVS V3.4, V14.3.2): a strict CSP with no inline script, nosniff,
frame-ancestors 'none', no referrer, ``no-store`` on every page but static
assets, HSTS when served over TLS.
"""

from __future__ import annotations

import errno
import hmac
import logging
import sqlite3
from collections.abc import MutableMapping
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from appliance.i18n import N_
from appliance.problems import Problem
from appliance.web.api_tokens import refusal
from appliance.web.errors import error
from appliance.web.keys import (
    API_TOKENS_KEY,
    CORE_KEY,
    LANG_COOKIE,
    LANG_KEY,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_KEY,
    SESSIONS_KEY,
)
from appliance.web.rendering import request_gettext

_LOGGER = logging.getLogger(__name__)

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
# Routes reachable without a session that still change state.
LOGIN_ROUTES: Final = frozenset(
    {"/login", "/login/code", "/api/v1/session", "/recuperer", "/premiere-mise-en-service"}
)

# Why an API token may not make a request.
TOKEN_REFUSALS: Final = {
    "account_route": N_(
        "Un jeton d'API n'ouvre pas la gestion des comptes (sessions, jetons, double "
        "authentification, délégations) : connectez-vous."
    ),
    "read_only": N_("Ce jeton d'API est en lecture seule."),
}

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def _forbidden(request: web.Request, reason: Problem) -> web.Response:
    _LOGGER.warning(
        "CSRF: refused %s %s from %s: %s", request.method, request.path, request.remote, reason
    )
    problem = Problem(N_("Requête refusée (protection anti-falsification) : %(reason)s"),
                      {"reason": reason})  # fmt: skip
    if request.path.startswith("/api/"):
        return error(403, "csrf", problem)
    return web.Response(status=403, text=problem.said(request_gettext(request)))


def _same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the live session (or None) and the UI language to the request."""
    token = request.cookies.get(SESSION_COOKIE)
    session = await request.app[SESSIONS_KEY].lookup(token) if token else None
    bearer = request.headers.get("Authorization", "")
    if session is None and request.path.startswith("/api/") and bearer.startswith("Bearer "):
        session = await request.app[API_TOKENS_KEY].session_for(bearer[7:].strip())
    refused = (
        session
        and session.token_scope
        and refusal(session.token_scope, request.method, request.path)
    )
    request[SESSION_KEY] = None if refused else session
    lang = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or ""
    if lang not in ("fr", "en"):
        lang = request.app[CORE_KEY].config.web.language
    request[LANG_KEY] = lang
    if refused:
        return error(403, "token_scope", TOKEN_REFUSALS[refused])
    response = await handler(request)
    if "lang" in request.query and request.query["lang"] in ("fr", "en"):
        response.set_cookie(
            LANG_COOKIE,
            lang,
            samesite="Strict",
            httponly=True,
            max_age=365 * 86_400,
            secure=request.secure,
        )
    return response


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse state-changing requests without a valid anti-forgery token."""
    if request.method in SAFE_METHODS:
        return await handler(request)
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return _forbidden(
            request, Problem(N_("envoyée depuis un autre site (%(site)s)"), {"site": fetch_site})
        )
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null":
        expected = f"{request.scheme}://{request.host}"
        if origin != expected:
            return _forbidden(request, Problem(N_("origine étrangère")))
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        field = form.get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    elif given is None and request.content_type == "multipart/form-data":
        # File uploads stream to the store: reading the body here would buffer
        # it, so their form carries the token in its action URL instead.
        given = request.query.get(CSRF_FIELD)
    session = request[SESSION_KEY]
    if session is not None and session.token_scope:
        # An API token is sent on purpose, never attached by a browser.
        return await handler(request)
    if session is not None and _same_token(session.csrf_token, given):
        return await handler(request)
    if request.path in LOGIN_ROUTES:
        if request.path == "/api/v1/session" and request.content_type == "application/json":
            # A cross-site form cannot send JSON without a CORS preflight we never grant.
            return await handler(request)
        if _same_token(request.cookies.get(LOGIN_CSRF_COOKIE), given):
            return await handler(request)
    return _forbidden(request, Problem(N_("jeton absent ou invalide")))


def _storage_failure(error: BaseException) -> str | None:
    text = str(error).lower()
    if isinstance(error, sqlite3.OperationalError) and ("full" in text or "disk" in text):
        return "disk_full" if "full" in text else "disk_error"
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return "disk_full"
    return None


# What a person is told when the data disk refuses a write.
STORAGE_FAILURES: Final = {
    "disk_full": N_("Le disque de données est plein : rien n'a été enregistré."),
    "disk_error": N_("Erreur du disque de données : rien n'a été enregistré."),
}


@web.middleware
async def storage_errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn a full or failing disk into a clear 503; the write was not acknowledged."""
    try:
        return await handler(request)
    except (sqlite3.OperationalError, OSError) as err:
        code = _storage_failure(err)
        if code is None:
            raise
        _LOGGER.error("Storage failure on %s %s: %s", request.method, request.path, err)  # noqa: TRY400
        if request.path.startswith("/api/"):
            return error(503, code, STORAGE_FAILURES[code])
        return web.Response(status=503, text=request_gettext(request)(STORAGE_FAILURES[code]))


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Add the security headers to every response, as it is prepared.

    A signal, not a middleware: streamed responses (downloads, exports, the
    WebDAV-sized bodies) send their headers in ``prepare()``, before any
    middleware could see them (issue #11, F7).
    """
    apply_headers(response.headers, static=request.path.startswith("/static/"))
    if request.secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"


SECURITY_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
SERVER_NAME: Final = "Preau"  # no version banner


def apply_headers(headers: MutableMapping[str, str], *, static: bool = False) -> None:
    """Set the security headers (a response's own stricter CSP is kept)."""
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.update(SECURITY_HEADERS)
    headers["Server"] = SERVER_NAME
    if not static:
        headers["Cache-Control"] = "no-store"

"""The API of second factors and tokens: what a session may see and issue.

These routes sit under the account routes no API token opens
(:data:`appliance.web.api_tokens.ACCOUNT_ROUTES`): a token can neither make
another token nor look at anyone's factor. Issuing a token from a session
whose person has a second factor needs a login that proved it.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from appliance.i18n import N_
from appliance.web.api_routes import EVERYONE, ApiRoutes, Body, Reply
from appliance.web.api_tokens import MAX_DAYS, Scope, TokenRow
from appliance.web.auth import source_of
from appliance.web.errors import error
from appliance.web.keys import API_TOKENS_KEY, CORE_KEY, SECOND_FACTORS_KEY, SESSION_KEY

api = ApiRoutes()


class SecondFactorReply(Reply):
    """The session's person's second factor."""

    active: bool
    recovery_codes_left: int
    this_session: Literal["", "totp", "recovery"] = Field(
        description="How this session's login proved the second factor ('' for not at all)."
    )
    required: bool = Field(description="Whether the configuration requires it for this role.")


class TokenBody(Body):
    """A new API token."""

    name: str = Field(min_length=1, max_length=80, description="What the token is for.")
    scope: Scope = Field(description="read: safe methods only; write: every method.")
    days: int = Field(90, ge=1, le=MAX_DAYS, description="Days until the token expires.")


class TokenInfo(Reply):
    """A token as listed: never the token itself."""

    id: str
    name: str
    scope: Scope
    created_at: float
    expires_at: float
    last_used_at: float | None


class TokensReply(Reply):
    """The session's person's live tokens."""

    tokens: list[TokenInfo]


class TokenIssued(TokenInfo):
    """A new token: ``token`` is shown this once."""

    token: str


class TokenRevoked(Reply):
    """Whether a live token was revoked."""

    revoked: bool


@api.get("/second-factor", "This person's second factor.", roles=EVERYONE,
         response=SecondFactorReply)  # fmt: skip
async def second_factor_state(request: web.Request) -> web.StreamResponse:
    """Say whether the session's person has a second factor, and how many codes are left."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - guaranteed by require_role
    enrolment = await request.app[SECOND_FACTORS_KEY].enrolment(session.person_id)
    config = request.app[CORE_KEY].config
    return web.json_response(
        {
            "active": bool(enrolment and enrolment.confirmed),
            "recovery_codes_left": enrolment.codes_left if enrolment else 0,
            "this_session": session.second_factor,
            "required": session.role == "referent" and config.web.second_factor_required,
        }
    )


@api.get("/tokens", "This referent's live API tokens.", response=TokensReply)
async def tokens(request: web.Request) -> web.StreamResponse:
    """List the session's person's live tokens (never the tokens themselves)."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - guaranteed by require_role
    rows = await request.app[API_TOKENS_KEY].listed(session.person_id)
    return web.json_response(
        {
            "tokens": [
                {
                    "id": r.id,
                    "name": r.name,
                    "scope": r.scope,
                    "created_at": r.created_at,
                    "expires_at": r.expires_at,
                    "last_used_at": r.last_used_at,
                }
                for r in rows
            ]
        }
    )


@api.post("/tokens", "Issue an API token (shown once).", body=TokenBody,
          response=TokenIssued, success=201)  # fmt: skip
async def issue_token(request: web.Request, body: TokenBody) -> web.StreamResponse:
    """Issue a token; refused to a session that skipped its person's second factor."""
    issued = await issue_for_session(request, body.name, body.scope, body.days)
    if isinstance(issued, str):
        return error(403, "second_factor_required", issued)
    token, row = issued
    return web.json_response(
        {"id": row.id, "name": row.name, "scope": row.scope, "created_at": row.created_at,
         "expires_at": row.expires_at, "last_used_at": None, "token": token},
        status=201,
    )  # fmt: skip


async def issue_for_session(
    request: web.Request, name: str, scope: Scope, days: int
) -> tuple[str, TokenRow] | str:
    """Issue and audit a token for the session's person; a refusal (``N_``) if its login skipped
    the person's second factor."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - guaranteed by require_role
    if not session.second_factor and await request.app[SECOND_FACTORS_KEY].active(
        session.person_id
    ):
        return N_("Reconnectez-vous avec votre code pour créer un jeton.")
    token, row = await request.app[API_TOKENS_KEY].issue(
        name=name, person_id=session.person_id, role=session.role, scope=scope, days=days
    )
    await request.app[CORE_KEY].audit.record(
        actor=session.person_id, source=source_of(request), action="token.issue",
        target=row.id, outcome="success", detail=f"scope={scope} days={days}",
    )  # fmt: skip
    return token, row


@api.delete("/tokens/{token_id}", "Revoke one of this referent's tokens.", response=TokenRevoked)
async def revoke_token(request: web.Request) -> web.StreamResponse:
    """Revoke a token now."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - guaranteed by require_role
    token_id = request.match_info["token_id"]
    revoked = await request.app[API_TOKENS_KEY].revoke(token_id, session.person_id)
    if revoked:
        await request.app[CORE_KEY].audit.record(
            actor=session.person_id, source=source_of(request), action="token.revoke",
            target=token_id, outcome="success",
        )  # fmt: skip
    return web.json_response({"revoked": revoked})

"""Scoped API tokens for scripts and the central MDM (issue #16, scope 9).

A token is sent as ``Authorization: Bearer preau_…`` and opens the JSON API
only (never a page), as its owner with the owner's role at creation, within
its scope: ``read`` answers safe methods only, ``write`` every method. Neither
scope reaches what guards the accounts themselves (sessions, tokens, second
factors, delegations), so a token can never stand in for a login's second
factor. Only the token's SHA-256 is stored; a token ends at its expiry, when
revoked, and with every session of its owner (a departure, a reset factor).

A token is not ambient like a cookie, so a request it opens needs no CSRF
token; a cookie always wins over a token in the same request.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Final, Literal

from appliance.config import Role
from appliance.state.db import StateDB
from appliance.web.sessions import WebSession, token_hash

Scope = Literal["read", "write"]
TOKEN_PREFIX: Final = "preau_"  # noqa: S105 - a marker, not a secret
MAX_DAYS: Final = 366
# What guards the accounts: no token reaches it, whatever its scope.
ACCOUNT_ROUTES: Final = (
    "/api/v1/session",
    "/api/v1/sessions",
    "/api/v1/tokens",
    "/api/v1/second-factor",
    "/api/v1/delegations",
)
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# The shown identity of a token: the start of its hash, never the token.
SHOWN_HASH_CHARS: Final = 12

Refusal = Literal["account_route", "read_only"]


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A token as listed: never the token itself."""

    id: str
    name: str
    person_id: str
    role: Role
    scope: Scope
    created_at: float
    expires_at: float
    last_used_at: float | None


def reaches_accounts(path: str) -> bool:
    """Return whether ``path`` is one of the account routes no token opens."""
    return any(path == route or path.startswith(route + "/") for route in ACCOUNT_ROUTES)


def refusal(scope: str, method: str, path: str) -> Refusal | None:
    """Return why a token of ``scope`` may not make this request, or None."""
    if reaches_accounts(path):
        return "account_route"
    if scope != "write" and method not in SAFE_METHODS:
        return "read_only"
    return None


class ApiTokens:
    """Issue, find, list and revoke API tokens in the state DB."""

    def __init__(self, db: StateDB) -> None:
        """Bind the store to the state DB."""
        self._db = db

    async def issue(
        self, *, name: str, person_id: str, role: Role, scope: Scope, days: int
    ) -> tuple[str, TokenRow]:
        """Create a token; return it (shown once) and its listed form."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = token_hash(token)
        now = time.time()
        expires = now + days * 86_400
        await self._db.execute_write(
            "INSERT INTO api_tokens (token_hash, name, person_id, role, scope, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (digest, name, person_id, role, scope, now, expires),
        )
        row = TokenRow(digest[:SHOWN_HASH_CHARS], name, person_id, role, scope, now, expires, None)
        return token, row

    async def session_for(self, token: str, now: float | None = None) -> WebSession | None:
        """Return the request identity a live token gives, noting its use; None if dead."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            return None
        now = time.time() if now is None else now
        digest = token_hash(token)
        row = await self._db.fetchone(
            "SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL"
            " AND expires_at > ?",
            (digest, now),
        )
        if row is None:
            return None
        if row["last_used_at"] is None or now - row["last_used_at"] >= 60:
            await self._db.execute_write(
                "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ?", (now, digest)
            )
        return WebSession(
            token_hash=digest,
            person_id=row["person_id"],
            role=row["role"],
            csrf_token="",
            created_at=row["created_at"],
            last_seen=now,
            expires_at=row["expires_at"],
            idle_limit=row["expires_at"] - row["created_at"],
            token_scope=row["scope"],
        )

    async def listed(self, person_id: str | None = None) -> list[TokenRow]:
        """Return the live tokens, of one person or all, newest first."""
        where = "revoked_at IS NULL AND expires_at > ?"
        params: list[object] = [time.time()]
        if person_id is not None:
            where += " AND person_id = ?"
            params.append(person_id)
        rows = await self._db.fetchall(
            f"SELECT * FROM api_tokens WHERE {where} ORDER BY created_at DESC",  # noqa: S608
            params,
        )
        return [
            TokenRow(
                row["token_hash"][:SHOWN_HASH_CHARS],
                row["name"],
                row["person_id"],
                row["role"],
                row["scope"],
                row["created_at"],
                row["expires_at"],
                row["last_used_at"],
            )
            for row in rows
        ]

    async def revoke(self, shown_id: str, person_id: str | None = None) -> bool:
        """Revoke the live token shown as ``shown_id`` (of ``person_id`` when given)."""
        if len(shown_id) != SHOWN_HASH_CHARS or not all(c in "0123456789abcdef" for c in shown_id):
            return False
        sql = (
            "UPDATE api_tokens SET revoked_at = ? WHERE substr(token_hash, 1, ?) = ?"
            " AND revoked_at IS NULL"
        )
        params: list[object] = [time.time(), SHOWN_HASH_CHARS, shown_id]
        if person_id is not None:
            sql += " AND person_id = ?"
            params.append(person_id)
        return await self._db.execute_write(sql, params) > 0

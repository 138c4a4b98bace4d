"""Server-side, revocable login sessions (ASVS V7.2-V7.4).

The cookie carries a 256-bit random token; the state DB keeps only its
SHA-256, with the person, the role, a per-session CSRF token and the idle and
absolute deadlines (admin: 30 minutes idle, 12 hours absolute). A session can
be revoked from the server at any time, and sessions survive restarts and
directory outages. ``last_seen`` is written at most once a minute so that
browsing does not cost a durable write per page.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Final

from appliance.config import Role
from appliance.state.db import StateDB

TOUCH_EVERY_SECONDS: Final = 60.0
DEVICE_COOKIE_DAYS: Final = 180


def token_hash(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class WebSession:
    """A live login session."""

    token_hash: str
    person_id: str
    role: Role
    csrf_token: str
    created_at: float
    last_seen: float
    expires_at: float
    idle_limit: float
    # How the login was proved beyond the password: "", "totp" or "recovery".
    second_factor: str = ""
    # Set when an API token, not a login, opened this request (its scope).
    token_scope: str = ""


class SessionStore:
    """Create, find, touch and revoke sessions in the state DB."""

    def __init__(self, db: StateDB, *, idle_seconds: float, absolute_seconds: float) -> None:
        """Bind the store to the DB with the configured lifetimes."""
        self._db = db
        self._idle = idle_seconds
        self._absolute = absolute_seconds

    async def create(
        self, person_id: str, role: Role, source: str, second_factor: str = ""
    ) -> tuple[str, WebSession]:
        """Open a new session (a fresh token at every login, ASVS V7.2.4)."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        session = WebSession(
            token_hash=token_hash(token),
            person_id=person_id,
            role=role,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen=now,
            expires_at=now + self._absolute,
            idle_limit=self._idle,
            second_factor=second_factor,
        )
        await self._db.execute_write(
            "INSERT INTO sessions (token_hash, person_id, role, csrf_token, source, created_at,"
            " last_seen, expires_at, idle_limit, second_factor)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session.token_hash,
                person_id,
                role,
                session.csrf_token,
                source,
                now,
                now,
                session.expires_at,
                self._idle,
                second_factor,
            ),
        )
        return token, session

    async def lookup(self, token: str, now: float | None = None) -> WebSession | None:
        """Return the live session for a cookie token, touching it; None if ended."""
        now = time.time() if now is None else now
        row = await self._db.fetchone(
            "SELECT * FROM sessions WHERE token_hash = ? AND revoked_at IS NULL",
            (token_hash(token),),
        )
        if row is None:
            return None
        if now >= row["expires_at"] or now - row["last_seen"] >= row["idle_limit"]:
            return None
        if now - row["last_seen"] >= TOUCH_EVERY_SECONDS:
            await self._db.execute_write(
                "UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now, row["token_hash"])
            )
        return WebSession(
            token_hash=row["token_hash"],
            person_id=row["person_id"],
            role=row["role"],
            csrf_token=row["csrf_token"],
            created_at=row["created_at"],
            last_seen=now,
            expires_at=row["expires_at"],
            idle_limit=row["idle_limit"],
            second_factor=row["second_factor"],
        )

    async def mark_second_factor(self, session_hash: str, kind: str) -> None:
        """Note that this session's person just proved a second factor."""
        await self._db.execute_write(
            "UPDATE sessions SET second_factor = ? WHERE token_hash = ?", (kind, session_hash)
        )

    async def revoke(self, session_hash: str) -> None:
        """End one session now."""
        await self._db.execute_write(
            "UPDATE sessions SET revoked_at = ? WHERE token_hash = ?", (time.time(), session_hash)
        )

    async def revoke_person(self, person_id: str) -> int:
        """End every session of a person, and their API tokens; return how many sessions."""
        now = time.time()
        async with self._db.write() as tx:
            ended = await tx.execute(
                "UPDATE sessions SET revoked_at = ? WHERE person_id = ? AND revoked_at IS NULL",
                (now, person_id),
            )
            await tx.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE person_id = ? AND revoked_at IS NULL",
                (now, person_id),
            )
        return ended

    async def remember_device(self, person_id: str) -> str:
        """Issue a device token proving this browser logged in to the account before."""
        token = secrets.token_urlsafe(32)
        await self._db.execute_write(
            "INSERT INTO known_devices (token_hash, person_id, created_at) VALUES (?, ?, ?)",
            (token_hash(token), person_id.casefold(), time.time()),
        )
        return token

    async def is_known_device(self, token: str | None, account: str) -> bool:
        """Return whether ``token`` was issued to a browser that logged in to ``account``."""
        if not token:
            return False
        row = await self._db.fetchone(
            "SELECT created_at FROM known_devices WHERE token_hash = ? AND person_id = ?",
            (token_hash(token), account.casefold()),
        )
        return row is not None and time.time() - row[0] < DEVICE_COOKIE_DAYS * 86_400

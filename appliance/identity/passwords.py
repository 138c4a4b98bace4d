"""Argon2id password hashing for local accounts.

LDAP users are checked by a bind and nothing of their password is stored.
Hashing costs 19-64 MiB of memory, so calls run in the bounded executor.
"""

from __future__ import annotations

import secrets
from typing import Final, Literal

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from appliance.i18n import N_
from appliance.problems import UserError

HashProfile = Literal["rfc9106-low-memory", "owasp-minimum"]

# (time cost, memory in KiB, parallelism)
_PROFILES: Final[dict[str, tuple[int, int, int]]] = {
    # RFC 9106 second recommended option, argon2-cffi's default.
    "rfc9106-low-memory": (3, 65_536, 4),
    # OWASP Password Storage Cheat Sheet floor.
    "owasp-minimum": (2, 19_456, 1),
}

MIN_PASSWORD_LENGTH: Final = 8
MAX_PASSWORD_LENGTH: Final = 256


class PasswordPolicyError(UserError):
    """A new password does not meet the policy."""


def hasher_for(profile: HashProfile) -> PasswordHasher:
    """Return an argon2id hasher with the profile's cost."""
    time_cost, memory_cost, parallelism = _PROFILES[profile]
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
    )


def check_policy(password: str) -> None:
    """Refuse passwords that are too short or absurdly long (ASVS V6.2.1, V6.2.9)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            N_("mot de passe : au moins %(count)s caractères"), count=MIN_PASSWORD_LENGTH
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            N_("mot de passe : au plus %(count)s caractères"), count=MAX_PASSWORD_LENGTH
        )


def verify(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    """Return whether ``password`` matches ``stored_hash`` (blocking)."""
    try:
        return bool(hasher.verify(stored_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def dummy_hash(hasher: PasswordHasher) -> str:
    """Return a hash of a random string, to verify against for unknown logins."""
    return hasher.hash(secrets.token_urlsafe(16))


def first_password() -> str:
    """Return a new account's first password, to hand out on paper.

    Three groups of four unambiguous characters: about 62 bits, enough under
    the login throttle (CNIL 2022-100), and easy to type on a phone.
    """
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))

"""PERSONNEL keys: an age identity per person, wrapped by their password.

Each person has an age X25519 identity. Files are encrypted to its public
recipient (age gives every file its own random file key), so an upload needs
no secret; reading needs the identity, which exists in plaintext only in
the memory of a logged-in session. The identity is stored twice, each time
sealed with ChaCha20-Poly1305 under a key derived by Argon2id:

* from the person's password (unlocked at each login);
* from a recovery code shown to the person once (a lost or directory-changed
  password), when recovery codes are on.

A password change re-seals the identity only: no file is touched, whatever
the size of the space. Destroying the envelope destroys every file's only
key (crypto-shredding, #7.29). Blocking (Argon2id): call through the
executor.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Final

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from appliance import agefile

ENVELOPE_VERSION: Final = 1
RECOVERY_ALPHABET: Final = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
RECOVERY_GROUPS: Final = 6  # 6 groups of 5: about 148 bits
_AAD: Final = b"preau-personnel-identity-v1"

# (time cost, memory in KiB, parallelism): RFC 9106's second recommended option,
# and a light one for tests and demos.
KDF_PROFILES: Final[dict[str, tuple[int, int, int]]] = {
    "rfc9106-low-memory": (3, 65_536, 4),
    "owasp-minimum": (2, 19_456, 1),
}


class VaultError(ValueError):
    """A wrong password or code, or a damaged envelope (nothing is revealed)."""


@dataclass(frozen=True, slots=True)
class SealedIdentity:
    """The identity sealed under one secret (password or recovery code)."""

    time_cost: int
    memory_kib: int
    parallelism: int
    salt: bytes
    nonce: bytes
    box: bytes

    def to_json(self) -> str:
        """Return the stored form."""
        return json.dumps(
            {
                "v": ENVELOPE_VERSION,
                "kdf": "argon2id",
                "t": self.time_cost,
                "m": self.memory_kib,
                "p": self.parallelism,
                "salt": base64.b64encode(self.salt).decode(),
                "nonce": base64.b64encode(self.nonce).decode(),
                "box": base64.b64encode(self.box).decode(),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> SealedIdentity:
        """Read the stored form."""
        try:
            raw = json.loads(text)
            if raw["v"] != ENVELOPE_VERSION or raw["kdf"] != "argon2id":
                raise VaultError("unknown envelope version")
            return cls(
                int(raw["t"]),
                int(raw["m"]),
                int(raw["p"]),
                base64.b64decode(raw["salt"]),
                base64.b64decode(raw["nonce"]),
                base64.b64decode(raw["box"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise VaultError("damaged envelope") from err


def _key(secret: str, salt: bytes, time_cost: int, memory_kib: int, parallelism: int) -> bytes:
    return hash_secret_raw(
        secret.encode(),
        salt,
        time_cost=time_cost,
        memory_cost=memory_kib,
        parallelism=parallelism,
        hash_len=32,
        type=Type.ID,
    )


def seal(identity: str, secret: str, profile: str) -> SealedIdentity:
    """Seal ``identity`` under a key derived from ``secret``."""
    time_cost, memory_kib, parallelism = KDF_PROFILES[profile]
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    key = _key(secret, salt, time_cost, memory_kib, parallelism)
    box = ChaCha20Poly1305(key).encrypt(nonce, identity.encode(), _AAD)
    return SealedIdentity(time_cost, memory_kib, parallelism, salt, nonce, box)


def open_sealed(sealed: SealedIdentity, secret: str) -> str:
    """Return the identity, or raise :class:`VaultError` for a wrong secret."""
    key = _key(secret, sealed.salt, sealed.time_cost, sealed.memory_kib, sealed.parallelism)
    try:
        text = ChaCha20Poly1305(key).decrypt(sealed.nonce, sealed.box, _AAD)
    except InvalidTag as err:
        raise VaultError("wrong password or code") from err
    return text.decode()


def new_recovery_code() -> str:
    """Return a recovery code to print for the person (shown once)."""
    groups = [
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(5)) for _ in range(RECOVERY_GROUPS)
    ]
    return "-".join(groups)


def normalise_code(code: str) -> str:
    """Return a typed recovery code without spaces, dashes or case."""
    return "".join(c for c in code.upper() if c.isalnum())


@dataclass(frozen=True, slots=True)
class NewKeys:
    """A new person's keys: what to store, what to keep in memory, what to show once."""

    recipient: str
    by_password: SealedIdentity
    by_recovery: SealedIdentity | None
    identity: str
    recovery_code: str


def create_keys(password: str, profile: str, *, recovery: bool) -> NewKeys:
    """Generate an identity and seal it under the password (and a recovery code)."""
    identity = agefile.generate_identity()
    code = new_recovery_code() if recovery else ""
    return NewKeys(
        recipient=agefile.recipient_of(identity),
        by_password=seal(identity, password, profile),
        by_recovery=seal(identity, normalise_code(code), profile) if recovery else None,
        identity=identity,
        recovery_code=code,
    )

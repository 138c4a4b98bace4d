"""Enrolment tokens, signed requests and signed time: the box's credentials, pure.

No I/O: the intake (:mod:`sync.intake`) and the box (:mod:`sync.link`) call
these with bytes and clocks they read themselves.

- An **enrolment token** is minted by the central team for one site (UAI). It
  carries the centre's URLs and the digest of the repository's root metadata
  (the trust anchor the box pins), an id, an expiry (72 h at most) and a
  secret the intake keeps only hashed. It is used once.
- Each box makes its own **Ed25519 key pair**; the private key never leaves
  the box. Every request it sends is signed over its method, path, time and
  the body's digest. A new key is announced in a request signed by the old
  one, so keys rotate without enrolling again.
- **Signed time**: the intake signs ``{nonce, time}`` with the repository's
  online timestamp key. A box whose clock says 1970 learns the time from it:
  authenticated by a key its pinned root names, fresh by its own nonce, and
  with no need of TLS, whose certificates a 1970 clock cannot check.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.signer import Signature, Signer
from tuf.api.metadata import Root

from appliance.i18n import N_
from appliance.problems import UserError

TOKEN_PREFIX: Final = "preau1"  # noqa: S105 - a format marker, not a secret
MAX_TOKEN_LIFETIME: Final = dt.timedelta(hours=72)
# A signed request older or newer than this (by the centre's clock) is refused.
REQUEST_SKEW_SECONDS: Final = 600.0
HEADER_BOX: Final = "X-Preau-Box"
HEADER_TIME: Final = "X-Preau-Time"
HEADER_SIGNATURE: Final = "X-Preau-Signature"


class CredentialError(UserError):
    """A token, signature or signed time that does not hold."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Token:
    """What an enrolment token says."""

    token_id: str
    uai: str
    repository: str
    intake: str
    root_sha256: str
    expires: float
    secret: str

    @property
    def secret_sha256(self) -> str:
        """Return the digest the intake keeps instead of the secret."""
        return hashlib.sha256(self.secret.encode()).hexdigest()


def mint_token(
    uai: str,
    repository: str,
    intake: str,
    root_metadata: bytes,
    now: float,
    lifetime: dt.timedelta = MAX_TOKEN_LIFETIME,
) -> Token:
    """Make a new single-site token (its secret is random)."""
    if lifetime > MAX_TOKEN_LIFETIME or lifetime.total_seconds() <= 0:
        raise CredentialError(N_("un jeton vit au plus 72 heures"))
    return Token(
        token_id=secrets.token_hex(8),
        uai=uai,
        repository=repository,
        intake=intake,
        root_sha256=hashlib.sha256(root_metadata).hexdigest(),
        expires=now + lifetime.total_seconds(),
        secret=secrets.token_urlsafe(24),
    )


def token_text(token: Token) -> str:
    """Return the text the referent pastes."""
    payload = {
        "id": token.token_id,
        "uai": token.uai,
        "repository": token.repository,
        "intake": token.intake,
        "root": token.root_sha256,
        "exp": int(token.expires),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{TOKEN_PREFIX}.{body}.{token.secret}"


def parse_token(text: str) -> Token:
    """Read a pasted token, refusing anything that is not one."""
    parts = "".join(text.split()).split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[2]:
        raise CredentialError(N_("ce n'est pas un jeton d'inscription Préau"))
    try:
        payload = json.loads(_unb64(parts[1]))
        token = Token(
            token_id=str(payload["id"]),
            uai=str(payload["uai"]),
            repository=str(payload["repository"]),
            intake=str(payload["intake"]),
            root_sha256=str(payload["root"]),
            expires=float(payload["exp"]),
            secret=parts[2],
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as err:
        raise CredentialError(N_("ce n'est pas un jeton d'inscription Préau")) from err
    for url in (token.repository, token.intake):
        if not url.startswith(("https://", "http://")):
            raise CredentialError(N_("ce n'est pas un jeton d'inscription Préau"))
    return token


# -- the box's key pair ---------------------------------------------------------


def new_box_key() -> bytes:
    """Return a new private key, PEM (kept on the box, 0600)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_box_key(pem: bytes) -> Ed25519PrivateKey:
    """Return the private key in ``pem``."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise CredentialError(N_("la clé du boîtier n'est pas une clé Ed25519"))
    return key


def public_text(key: Ed25519PrivateKey) -> str:
    """Return the public half, as the intake stores it."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _b64(raw)


def _request_text(method: str, path: str, when: float, body_sha256: str) -> bytes:
    return f"{method.upper()}\n{path}\n{when:.3f}\n{body_sha256}".encode()


def sign_request(
    key: Ed25519PrivateKey,
    box_id: str,
    method: str,
    path: str,
    body: bytes,
    when: float,
    body_sha256: str | None = None,
) -> dict[str, str]:
    """Return the headers that authenticate one request of the box.

    ``body_sha256``: the body's digest when the body is a file sent as a stream.
    """
    digest = body_sha256 or hashlib.sha256(body).hexdigest()
    signature = key.sign(_request_text(method, path, when, digest))
    return {HEADER_BOX: box_id, HEADER_TIME: f"{when:.3f}", HEADER_SIGNATURE: _b64(signature)}


def verify_request(
    public_keys: list[str], headers: dict[str, str], method: str, path: str, body: bytes, now: float
) -> None:
    """Refuse a request not signed by one of the box's keys, or signed too far from now."""
    try:
        when = float(headers[HEADER_TIME])
        signature = _unb64(headers[HEADER_SIGNATURE])
    except (KeyError, ValueError, binascii.Error) as err:
        raise CredentialError(N_("requête non signée")) from err
    if abs(now - when) > REQUEST_SKEW_SECONDS:
        raise CredentialError(N_("requête signée hors délai (horloge du boîtier ?)"))
    text = _request_text(method, path, when, hashlib.sha256(body).hexdigest())
    for public in public_keys:
        try:
            Ed25519PublicKey.from_public_bytes(_unb64(public)).verify(signature, text)
        except (InvalidSignature, ValueError):
            continue
        return
    raise CredentialError(N_("signature du boîtier invalide"))


def same_secret(token: Token, stored_sha256: str) -> bool:
    """Compare a token's secret with the stored digest in constant time."""
    return hmac.compare_digest(token.secret_sha256, stored_sha256)


# -- signed time ------------------------------------------------------------------


def _time_text(nonce: str, when: float) -> bytes:
    return json.dumps({"nonce": nonce, "time": when}, sort_keys=True).encode()


def sign_time(signer: Signer, nonce: str, when: float) -> dict[str, Any]:
    """Return the centre's signed answer to a box asking the time."""
    signature = signer.sign(_time_text(nonce, when))
    return {"nonce": nonce, "time": when, "keyid": signature.keyid, "sig": signature.signature}


def verify_time(root: Root, answer: dict[str, Any], nonce: str) -> float:
    """Return the time a signed answer gives, if the root's timestamp key signed it."""
    try:
        when = float(answer["time"])
        keyid = str(answer["keyid"])
        signature = Signature(keyid, str(answer["sig"]))
        answered_nonce = str(answer["nonce"])
    except (KeyError, ValueError, TypeError) as err:
        raise CredentialError(N_("heure signée illisible")) from err
    if not hmac.compare_digest(answered_nonce, nonce):
        raise CredentialError(N_("heure signée rejouée (mauvais nonce)"))
    if keyid not in root.roles["timestamp"].keyids:
        raise CredentialError(N_("heure signée par une clé inconnue"))
    try:
        root.keys[keyid].verify_signature(signature, _time_text(nonce, when))
    except UnverifiedSignatureError as err:
        raise CredentialError(N_("heure signée invalide")) from err
    return when

"""The second factor's pure rules: RFC 6238 codes, recovery codes, the clock.

No I/O here. A time-based code (TOTP, 30 s steps, six digits, HMAC-SHA1 as
every authenticator app expects) comes from pyotp; this module adds what the
box decides around it:

- a code is accepted for the current step and one step either side (a phone
  30 s off still works), never for a step already used: a code seen over a
  shoulder cannot be replayed, even within its own 30 seconds;
- the ten recovery codes are random, typed in groups of four, and compared
  after folding case, spaces and dashes, since people copy them from paper;
- a box whose clock is not synchronised (a Raspberry Pi boots without a
  real-time clock) cannot tell a right code from a wrong one, so it refuses
  to check any and says why; recovery codes do not depend on the clock.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Final, Literal

import pyotp

STEP_SECONDS: Final = 30
DIGITS: Final = 6
# Steps either side of now that still count (RFC 6238 §5.2 allows one).
DRIFT_STEPS: Final = 1
RECOVERY_CODES: Final = 10
# Unambiguous letters and digits: no 0/O, 1/I/L.
_RECOVERY_ALPHABET: Final = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
# Three groups of four: 59 bits, and the login throttle stands in front.
_RECOVERY_GROUPS: Final = 3
_CODE_PATTERN: Final = re.compile(r"^\d{6}$")
ISSUER: Final = "Préau"

Kind = Literal["totp", "recovery"]


@dataclass(frozen=True, slots=True)
class Check:
    """What a typed code turned out to be, and the step it used (time codes)."""

    accepted: bool
    kind: Kind
    step: int = 0


def new_secret() -> str:
    """Return a new shared secret (160 bits, base32, as RFC 4226 recommends)."""
    return pyotp.random_base32(32)


def secret_groups(secret: str) -> str:
    """Return the secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, account: str, site_name: str) -> str:
    """Return the otpauth:// address an authenticator app reads from the QR code."""
    label = f"{ISSUER} ({site_name})" if site_name else ISSUER
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    return totp.provisioning_uri(name=account, issuer_name=label)


def code_at(secret: str, when: float) -> str:
    """Return the code the app shows at ``when`` (for tests and the demo)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(when)


def step_of(when: float) -> int:
    """Return the 30-second step ``when`` falls in."""
    return int(when // STEP_SECONDS)


def kind_of(typed: str) -> Kind:
    """Return whether a typed code looks like a time code or a recovery code."""
    folded = typed.strip().replace(" ", "")
    return "totp" if _CODE_PATTERN.match(folded) else "recovery"


def check_time_code(secret: str, typed: str, now: float, last_step: int) -> Check:
    """Check a six-digit code against now, one step either side, never a used step."""
    folded = typed.strip().replace(" ", "")
    if not _CODE_PATTERN.match(folded):
        return Check(False, "totp")
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = step_of(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step <= last_step:
            continue
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), folded):
            return Check(True, "totp", step)
    return Check(False, "totp")


def new_recovery_codes() -> list[str]:
    """Return ten fresh recovery codes, as they are printed (``ABCD-EFGH-JKMN``)."""
    return [
        "-".join(
            "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(4))
            for _ in range(_RECOVERY_GROUPS)
        )
        for _ in range(RECOVERY_CODES)
    ]


def fold_recovery_code(typed: str) -> str:
    """Return a typed recovery code as it is hashed: upper case, no spaces or dashes."""
    return re.sub(r"[\s\-]", "", typed).upper()


def plausible_recovery_code(typed: str) -> bool:
    """Return whether a typed text could be a recovery code (before any hashing)."""
    folded = fold_recovery_code(typed)
    return len(folded) == 4 * _RECOVERY_GROUPS and all(c in _RECOVERY_ALPHABET for c in folded)

"""A login's second step: the code after the password (issue #16, scope 9).

When a person with an active second factor gives the right password, no
session opens yet: the login waits here, in memory, for five minutes and
five codes at most, under a random token held in a short cookie (the form)
or checked within the same call (the API sends the code with the password).
The password waits too, only in this process's memory, because PERSONNEL's
key opens with it once the login completes.

Every wrong code counts against the login throttle like a wrong password;
a right password does not reset that count until the code is right, so
alternating password and code guesses gains nothing. A code that needs the
clock is refused with a clear message while the clock is not synchronised.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from appliance.config import Role
from appliance.identity.model import Person
from appliance.identity.second_factor_state import kernel_clock_synchronised
from appliance.web.sessions import token_hash

PENDING_SECONDS: Final = 300.0
PENDING_ATTEMPTS: Final = 5
# However many passwords arrive at once, the waiting logins stay bounded.
PENDING_MAX: Final = 1000


@dataclass(slots=True)
class ClockCheck:
    """Whether time codes can be checked: the kernel's NTP state, or the host's word."""

    source: str = "ntp"
    probe: Callable[[], bool] = field(default=kernel_clock_synchronised)

    def synchronised(self) -> bool:
        """Return whether the clock is known to be right."""
        return self.source == "host" or self.probe()


@dataclass(slots=True)
class PendingLogin:
    """A login whose password was right, waiting for its code."""

    person: Person
    role: Role
    password: str
    account: str
    known_device: bool
    deadline: float
    attempts: int = 0


class PendingLogins:
    """Logins waiting for their second factor, by the hash of their token."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Start empty; ``clock`` is the monotonic clock (tests move it)."""
        self._clock = clock
        self._waiting: OrderedDict[str, PendingLogin] = OrderedDict()

    def open(
        self, person: Person, role: Role, password: str, account: str, known_device: bool
    ) -> str:
        """Keep a login waiting; return the token that finds it again."""
        now = self._clock()
        self._drop_expired(now)
        while len(self._waiting) >= PENDING_MAX:
            self._waiting.popitem(last=False)
        token = secrets.token_urlsafe(32)
        self._waiting[token_hash(token)] = PendingLogin(
            person, role, password, account, known_device, now + PENDING_SECONDS
        )
        return token

    def find(self, token: str | None) -> PendingLogin | None:
        """Return the waiting login of ``token``, or None once gone or expired."""
        if not token or len(token) > 64:
            return None
        key = token_hash(token)
        pending = self._waiting.get(key)
        if pending is not None and self._clock() >= pending.deadline:
            del self._waiting[key]
            return None
        return pending

    def failed(self, token: str) -> bool:
        """Count a wrong code; return whether the login is now given up."""
        key = token_hash(token)
        pending = self._waiting.get(key)
        if pending is None:
            return True
        pending.attempts += 1
        if pending.attempts >= PENDING_ATTEMPTS:
            del self._waiting[key]
            return True
        return False

    def close(self, token: str) -> None:
        """Forget a login (completed or abandoned)."""
        self._waiting.pop(token_hash(token), None)

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, p in self._waiting.items() if now >= p.deadline]:
            del self._waiting[key]

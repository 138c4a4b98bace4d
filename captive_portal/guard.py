"""What stands between a flooding or replaying client and everybody else's sessions.

Pure, bounded, in memory (the caller passes ``now``):

* :class:`FormTokens`: every form the portal renders carries a single-use
  token bound to the device's address; a replayed, forged or foreign post
  fails before any password is checked.
* :class:`SourceLimits`: a token bucket per device address for all requests,
  and a per-minute budget of login attempts. Both are bounded in size, so a
  flood of addresses cannot grow them without limit.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

FORM_TOKEN_SECONDS: Final = 15 * 60
MAX_TRACKED: Final = 50_000


class FormTokens:
    """Single-use form tokens, each bound to one client address."""

    def __init__(self, lifetime: float = FORM_TOKEN_SECONDS, capacity: int = MAX_TRACKED) -> None:
        """Keep at most ``capacity`` outstanding tokens (the oldest go first)."""
        self._lifetime = lifetime
        self._capacity = capacity
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def issue(self, address: str, now: float) -> str:
        """Return a new token for a form shown to ``address``."""
        token = secrets.token_urlsafe(18)
        self._tokens[token] = (address, now + self._lifetime)
        while len(self._tokens) > self._capacity:
            self._tokens.popitem(last=False)
        return token

    def redeem(self, token: str, address: str, now: float) -> bool:
        """Consume ``token``; True only once, from the address it was issued to, in time."""
        found = self._tokens.pop(token, None) if len(token) < 64 else None
        return found is not None and found[0] == address and found[1] > now


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    logins: int
    minute: int


class SourceLimits:
    """Per-address request rate and login attempts."""

    def __init__(
        self,
        *,
        requests_per_second: float = 10.0,
        burst: float = 40.0,
        logins_per_minute: int = 20,
        capacity: int = MAX_TRACKED,
    ) -> None:
        """Set the limits; track at most ``capacity`` addresses."""
        self._rate = requests_per_second
        self._burst = burst
        self._logins = logins_per_minute
        self._capacity = capacity
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _bucket(self, address: str, now: float) -> _Bucket:
        bucket = self._buckets.pop(address, None)
        if bucket is None:
            bucket = _Bucket(self._burst, now, 0, int(now // 60))
        self._buckets[address] = bucket
        while len(self._buckets) > self._capacity:
            self._buckets.popitem(last=False)
        return bucket

    def allow_request(self, address: str, now: float) -> bool:
        """Take one request from the address's bucket; False when it is empty."""
        bucket = self._bucket(address, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def allow_login(self, address: str, now: float) -> bool:
        """Count one login attempt; False past the per-minute budget."""
        bucket = self._bucket(address, now)
        minute = int(now // 60)
        if minute != bucket.minute:
            bucket.minute, bucket.logins = minute, 0
        bucket.logins += 1
        return bucket.logins <= self._logins

"""Login throttling that an attacker cannot turn into a lockout (ASVS V2.2.1, V6.1.1).

Pure and clock-free: the caller passes ``now``. Three limits apply together:

1. **per source address**: at most ``per_source_per_minute`` attempts a minute,
   whatever the account;
2. **per account and source**: after ``free_failures`` failures in 15 minutes,
   each further attempt from that source waits twice as long as the previous
   one, up to ``max_delay_seconds``;
3. **per account, all sources**: after ``account_failures_per_hour`` failures
   in an hour (ASVS: at most 100), only devices that logged in to the account
   before (a device cookie) may keep trying.

Throttled attempts are refused before the password is checked, so they do not
count as failures: an attacker hammering from one address only slows that
address down, and the real referent still logs in from any other.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Final, Literal

from appliance.config import ThrottleConfig

PAIR_WINDOW_SECONDS: Final = 15 * 60.0
SOURCE_WINDOW_SECONDS: Final = 60.0
ACCOUNT_WINDOW_SECONDS: Final = 3600.0
# Bound memory under a spray of random accounts and addresses.
MAX_TRACKED_KEYS: Final = 50_000

ThrottleReason = Literal["source", "account_source", "account"]


@dataclass(frozen=True, slots=True)
class ThrottleDecision:
    """Whether an attempt may proceed, and if not why and for how long."""

    allowed: bool
    reason: ThrottleReason | None = None
    retry_after: float = 0.0


_ALLOW: Final = ThrottleDecision(True)


class _Windows:
    """Timestamps per key within a sliding window, with bounded key count."""

    def __init__(self, window: float) -> None:
        self._window = window
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def recent(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            return deque()
        while events and events[0] <= now - self._window:
            events.popleft()
        if not events:
            del self._events[key]
        return events

    def add(self, key: str, now: float) -> None:
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
            if len(self._events) > MAX_TRACKED_KEYS:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        events.append(now)

    def clear(self, key: str) -> None:
        self._events.pop(key, None)


class LoginThrottle:
    """Decide whether a login attempt may be checked at all."""

    def __init__(self, config: ThrottleConfig) -> None:
        """Start with no history."""
        self._config = config
        # One throttle for the web, the API and WebDAV: WebDAV's threads use it too.
        self._lock = threading.Lock()
        self._sources = _Windows(SOURCE_WINDOW_SECONDS)
        self._pairs = _Windows(PAIR_WINDOW_SECONDS)
        self._accounts = _Windows(ACCOUNT_WINDOW_SECONDS)

    @staticmethod
    def _pair(account: str, source: str) -> str:
        return f"{account.casefold()}\0{source}"

    def check(
        self, account: str, source: str, now: float, *, known_device: bool = False
    ) -> ThrottleDecision:
        """Return whether this attempt may proceed; an allowed attempt is counted."""
        with self._lock:
            return self._check(account, source, now, known_device=known_device)

    def _check(
        self, account: str, source: str, now: float, *, known_device: bool
    ) -> ThrottleDecision:
        cfg = self._config
        attempts = self._sources.recent(source, now)
        if len(attempts) >= cfg.per_source_per_minute:
            return ThrottleDecision(False, "source", attempts[0] + SOURCE_WINDOW_SECONDS - now)
        failures = self._pairs.recent(self._pair(account, source), now)
        excess = len(failures) - cfg.free_failures
        if excess >= 0:
            delay = min(float(2**excess), float(cfg.max_delay_seconds))
            wait = failures[-1] + delay - now
            if wait > 0:
                return ThrottleDecision(False, "account_source", wait)
        account_failures = self._accounts.recent(account.casefold(), now)
        if len(account_failures) >= cfg.account_failures_per_hour and not known_device:
            wait = account_failures[0] + ACCOUNT_WINDOW_SECONDS - now
            return ThrottleDecision(False, "account", wait)
        self._sources.add(source, now)
        return _ALLOW

    def record_failure(self, account: str, source: str, now: float) -> None:
        """Count a wrong password for the account, from the source."""
        with self._lock:
            self._pairs.add(self._pair(account, source), now)
            self._accounts.add(account.casefold(), now)

    def record_success(self, account: str, source: str) -> None:
        """Forget this source's failures on the account after a good password."""
        with self._lock:
            self._pairs.clear(self._pair(account, source))

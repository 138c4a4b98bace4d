"""Per-client rate limiting with slip (a token bucket per address).

A school LAN is one /24, so limits are per address, never per network (the
AdGuard Home default of 20 qps per /24 starves a classroom). Over its limit, a
client gets every ``slip``-th query answered with TC=1 (so a real resolver
retries over TCP, which cannot be spoofed) and the others dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, Literal

MAX_CLIENTS: Final = 100_000

Verdict = Literal["pass", "slip", "drop"]


class RateLimiter:
    """Token buckets keyed by client address."""

    def __init__(self, qps: float, burst: float, slip: int) -> None:
        """Refill ``qps`` tokens a second up to ``burst``."""
        self._qps = qps
        self._burst = burst
        self._slip = slip
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        self.limited = 0

    def check(self, client: str, now: float) -> Verdict:
        """Spend a token for ``client``; say what to do with the query."""
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = [self._burst, now, 0.0]
            if len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        tokens = min(self._burst, bucket[0] + (now - bucket[1]) * self._qps)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return "pass"
        bucket[0] = tokens
        self.limited += 1
        bucket[2] += 1
        if self._slip and bucket[2] % self._slip == 0:
            return "slip"
        return "drop"

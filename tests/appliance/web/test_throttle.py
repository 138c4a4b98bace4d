"""Login throttling without malicious lockout (ASVS V2.2.1, V6.1.1): pure tests."""

from __future__ import annotations

from appliance.config import ThrottleConfig
from appliance.web.throttle import LoginThrottle


def hammer(
    throttle: LoginThrottle, account: str, source: str, start: float, count: int, spacing: float
) -> tuple[int, int]:
    """Try ``count`` wrong passwords; return (checked, refused)."""
    checked = refused = 0
    for index in range(count):
        now = start + index * spacing
        if throttle.check(account, source, now).allowed:
            checked += 1
            throttle.record_failure(account, source, now)
        else:
            refused += 1
    return checked, refused


def test_source_limited_per_minute() -> None:
    throttle = LoginThrottle(ThrottleConfig(per_source_per_minute=30, free_failures=1000))
    checked, refused = hammer(throttle, "a", "10.0.0.1", 0.0, 300, 0.1)
    assert checked <= 30 * 1  # 300 tries in 30 s: one minute window
    assert refused >= 270


def test_account_and_source_delays_grow_exponentially() -> None:
    throttle = LoginThrottle(ThrottleConfig(free_failures=5, per_source_per_minute=1000))
    checked, _ = hammer(throttle, "referent", "198.51.100.7", 0.0, 300, 0.2)
    # 5 free, then waits of 1, 2, 4, 8, 16 s fit in the minute: at most a handful more.
    assert 5 <= checked <= 11
    decision = throttle.check("referent", "198.51.100.7", 60.0)
    assert not decision.allowed
    assert decision.reason == "account_source"


def test_other_source_is_not_locked_out_by_one_attacker() -> None:
    throttle = LoginThrottle(ThrottleConfig())
    hammer(throttle, "referent", "198.51.100.7", 0.0, 300, 0.2)
    assert throttle.check("referent", "192.0.2.10", 60.0).allowed


def test_account_budget_stops_distributed_guessing_but_not_known_devices() -> None:
    throttle = LoginThrottle(ThrottleConfig(account_failures_per_hour=100))
    now = 0.0
    for bot in range(200):
        source = f"203.0.113.{bot}"
        for _ in range(3):
            if throttle.check("referent", source, now).allowed:
                throttle.record_failure("referent", source, now)
            now += 0.5
    assert not throttle.check("referent", "192.0.2.10", now).allowed
    assert throttle.check("referent", "192.0.2.10", now, known_device=True).allowed


def test_success_resets_the_pair() -> None:
    throttle = LoginThrottle(ThrottleConfig(free_failures=2))
    hammer(throttle, "jo", "192.0.2.1", 0.0, 3, 0.0)
    throttle.record_success("jo", "192.0.2.1")
    assert throttle.check("jo", "192.0.2.1", 0.1).allowed


def test_account_names_are_case_insensitive() -> None:
    throttle = LoginThrottle(ThrottleConfig(free_failures=2, per_source_per_minute=1000))
    hammer(throttle, "Referent", "192.0.2.1", 0.0, 3, 0.0)
    assert not throttle.check("REFERENT", "192.0.2.1", 0.1).allowed

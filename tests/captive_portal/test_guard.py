"""Form tokens and per-address limits (pure; issue #4 "Bad input")."""

from __future__ import annotations

from captive_portal.guard import FormTokens, SourceLimits


def test_form_tokens_are_single_use_bound_and_expire() -> None:
    tokens = FormTokens(lifetime=60)
    token = tokens.issue("10.0.0.2", now=0)
    assert not tokens.redeem(token, "10.0.0.3", now=1)  # another device: refused (and spent)
    token = tokens.issue("10.0.0.2", now=0)
    assert tokens.redeem(token, "10.0.0.2", now=1)
    assert not tokens.redeem(token, "10.0.0.2", now=2)  # replay
    late = tokens.issue("10.0.0.2", now=0)
    assert not tokens.redeem(late, "10.0.0.2", now=61)
    assert not tokens.redeem("x" * 5000, "10.0.0.2", now=1)


def test_form_tokens_are_bounded() -> None:
    tokens = FormTokens(capacity=100)
    first = tokens.issue("10.0.0.2", now=0)
    for _ in range(200):
        tokens.issue("10.0.0.9", now=0)
    assert not tokens.redeem(first, "10.0.0.2", now=1)  # the oldest went first


def test_source_limits_bucket_and_login_budget() -> None:
    limits = SourceLimits(requests_per_second=1, burst=5, logins_per_minute=3, capacity=10)
    assert all(limits.allow_request("a", 0) for _ in range(5))
    assert not limits.allow_request("a", 0)
    assert limits.allow_request("b", 0)  # another device is not affected
    assert limits.allow_request("a", 1.5)  # refilled
    assert [limits.allow_login("a", 10) for _ in range(4)] == [True, True, True, False]
    assert limits.allow_login("a", 61)  # next minute
    for n in range(50):
        limits.allow_request(f"flood{n}", 0)
    assert len(limits._buckets) <= 10

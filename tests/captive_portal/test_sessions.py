"""Sessions owned by accounts, not MACs (#5.17); probes and RFC 8908 (pure)."""

from __future__ import annotations

from pathlib import Path

from captive_portal.portal_base import forwarding_missing
from captive_portal.probes import CaptiveState, probe_answer
from captive_portal.sessions import RolePolicy, is_randomised, login, logout, sweep

PUPIL = RolePolicy(hard_seconds=3600, idle_seconds=600, max_devices=2, ends_with_school_day=True)


def test_randomised_mac_is_flagged() -> None:
    assert is_randomised("da:a1:19:00:00:01")
    assert not is_randomised("00:1a:2b:00:00:01")


def test_new_mac_reattaches_to_the_same_session_and_keeps_counters() -> None:
    first = login(None, "lbernard", "pupil", "DA:A1:19:00:00:01", "10.0.0.5", 0.0, PUPIL)
    assert first.session is not None
    used, _ = sweep(first.session, 60.0, PUPIL, {"da:a1:19:00:00:01": (5_000_000, True)})
    assert used is not None
    # The phone rotates its MAC and gets the same IP: same session, old pair closed.
    again = login(used, "lbernard", "pupil", "da:a1:19:00:00:02", "10.0.0.5", 120.0, PUPIL)
    assert again.session is not None
    assert again.session.started_at == 0.0
    assert again.session.bytes_used == 5_000_000
    assert again.gate.close == (("da:a1:19:00:00:01", "10.0.0.5"),)
    assert again.gate.open == (("da:a1:19:00:00:02", "10.0.0.5", 3480),)
    assert [d.mac for d in again.session.devices] == ["da:a1:19:00:00:02"]


def test_device_cap_replaces_oldest_or_refuses() -> None:
    session = None
    for index in range(2):
        result = login(
            session,
            "u",
            "pupil",
            f"00:00:00:00:00:0{index}",
            f"10.0.0.{index}",
            float(index),
            PUPIL,
        )
        session = result.session
    third = login(session, "u", "pupil", "00:00:00:00:00:09", "10.0.0.9", 5.0, PUPIL)
    assert third.gate.close == (("00:00:00:00:00:00", "10.0.0.0"),)
    strict = RolePolicy(max_devices=2, concurrent="refuse")
    refused = login(session, "u", "pupil", "00:00:00:00:00:09", "10.0.0.9", 5.0, strict)
    assert refused.refused == "device_cap"


def test_idle_and_hard_timeouts_and_end_of_day() -> None:
    result = login(
        None, "u", "pupil", "00:00:00:00:00:01", "10.0.0.1", 0.0, PUPIL, day_ends_at=1800.0
    )
    assert result.session is not None
    assert result.session.ends_at == 1800.0  # the school day ends before the hard timeout
    idle, gate = sweep(result.session, 700.0, PUPIL, {})
    assert idle is not None
    assert gate.close == (("00:00:00:00:00:01", "10.0.0.1"),)
    ended, gate = sweep(result.session, 1800.0, PUPIL, {"00:00:00:00:00:01": (10, True)})
    assert ended is None


def test_quota_closes_the_gate() -> None:
    capped = RolePolicy(quota_bytes=1000)
    result = login(None, "u", "guest", "00:00:00:00:00:01", "10.0.0.1", 0.0, capped)
    assert result.session is not None
    after, gate = sweep(result.session, 10.0, capped, {"00:00:00:00:00:01": (2000, True)})
    assert after is not None
    assert after.devices == ()
    assert gate.close
    assert login(after, "u", "guest", "00:00:00:00:00:01", "10.0.0.1", 20.0, capped).refused == (
        "quota"
    )


def test_probe_answers_and_rfc8908() -> None:
    assert probe_answer("captive.apple.com", "/hotspot-detect.html").status == 200  # type: ignore[union-attr]
    assert probe_answer("connectivitycheck.gstatic.com:80", "/generate_204").status == 204  # type: ignore[union-attr]
    assert probe_answer("www.example.org", "/") is None
    before = CaptiveState(True, "https://portail.preau.lan/").as_json()
    assert before == {"captive": True, "user-portal-url": "https://portail.preau.lan/"}
    after = CaptiveState(
        False, "https://portail.preau.lan/", seconds_remaining=120, can_extend=True
    ).as_json()
    assert after["seconds-remaining"] == 120
    assert after["can-extend-session"] is True


def test_fair_use_throttles_instead_of_cutting_and_quota_is_daily() -> None:
    fair = RolePolicy(hard_seconds=3600, idle_seconds=600, quota_bytes=1000, fair_use=True)
    result = login(None, "u", "pupil", "02:00:00:00:00:01", "10.0.0.1", 0.0, fair)
    assert result.session is not None
    session, gate = sweep(result.session, 10.0, fair, {"02:00:00:00:00:01": (1500, False)})
    assert session is not None
    assert session.throttled
    assert gate.close == ()
    # Today's usage counts for a new session: past the quota a cut-off role is refused.
    strict = RolePolicy(quota_bytes=1000)
    refused = login(
        None, "u", "pupil", "02:00:00:00:00:01", "10.0.0.1", 0.0, strict, used_today=1000
    )
    assert refused.refused == "quota"
    slowed = login(None, "u", "pupil", "02:00:00:00:00:01", "10.0.0.1", 0.0, fair, used_today=1000)
    assert slowed.session is not None
    assert slowed.session.throttled


def test_logout_detaches_one_device_and_ends_with_the_last() -> None:
    policy = RolePolicy(max_devices=3)
    first = login(None, "u", "pupil", "02:00:00:00:00:01", "10.0.0.1", 0.0, policy).session
    both = login(first, "u", "pupil", "02:00:00:00:00:02", "10.0.0.2", 1.0, policy).session
    assert both is not None
    remaining, gate = logout(both, "02:00:00:00:00:01")
    assert gate.close == (("02:00:00:00:00:01", "10.0.0.1"),)
    assert remaining is not None
    assert [d.mac for d in remaining.devices] == ["02:00:00:00:00:02"]
    ended, _ = logout(remaining, "02:00:00:00:00:02")
    assert ended is None


def test_voucher_end_and_allow_policy() -> None:
    allow = RolePolicy(max_devices=1, concurrent="allow")
    first = login(None, "g", "guest", "02:00:00:00:00:01", "10.0.0.1", 0.0, allow, ends_at=600.0)
    assert first.session is not None
    assert first.session.ends_at == 600.0
    second = login(first.session, "g", "guest", "02:00:00:00:00:02", "10.0.0.2", 1.0, allow)
    assert second.session is not None
    assert len(second.session.devices) == 2


def test_a_role_tied_to_the_school_day_cannot_start_after_it() -> None:
    # The portal passes the end of today's lessons, past in the evening (or "now"
    # on a day without classes): the login is refused, not given hard_seconds.
    evening = login(
        None, "u", "pupil", "00:00:00:00:00:01", "10.0.0.1", 2000.0, PUPIL, day_ends_at=1800.0
    )
    assert evening.session is None
    assert evening.refused == "outside_hours"
    teacher = RolePolicy(hard_seconds=3600, idle_seconds=600, max_devices=2)
    late = login(
        None, "t", "teacher", "00:00:00:00:00:02", "10.0.0.2", 2000.0, teacher, day_ends_at=1800.0
    )
    assert late.session is not None
    assert late.session.ends_at == 2000.0 + 3600


def test_forwarding_off_is_named(tmp_path: Path) -> None:
    """Issue #11: with forwarding off the portal said "online" while nothing passed."""
    (tmp_path / "ipv4").mkdir()
    (tmp_path / "ipv6" / "conf" / "all").mkdir(parents=True)
    (tmp_path / "ipv4" / "ip_forward").write_text("0\n")
    (tmp_path / "ipv6" / "conf" / "all" / "forwarding").write_text("0\n")
    assert forwarding_missing(False, tmp_path) == "net.ipv4.ip_forward=0"
    assert forwarding_missing(True, tmp_path) == (
        "net.ipv4.ip_forward=0, net.ipv6.conf.all.forwarding=0"
    )
    (tmp_path / "ipv4" / "ip_forward").write_text("1\n")
    (tmp_path / "ipv6" / "conf" / "all" / "forwarding").write_text("1\n")
    assert forwarding_missing(True, tmp_path) == ""

"""Admin actions reach the kernel: a teacher's "block all" on a class, kick and
extend, guest vouchers, the reconcile loop, the fair-use rate after a quota
(issue #4, scopes 1, 4, 6, 8, 9; CARMO #9.2, #7.5, 9.2.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from captive_portal import ruleset
from captive_portal import state as portal_admin
from filter import state as filtering
from tests.captive_portal.conftest import (
    CLIENT_IP,
    LOGIN_PAGE,
    OTHER_IP,
    QUARTER_BYTES,
    WAN_IP,
    Lab,
    add_user,
    block_class,
    phone_request,
    portal_config,
    portal_login,
    running_portal,
    state_rows,
    wait_until,
    with_core,
)

pytestmark = pytest.mark.timeout(120)
PASSWORD = "pupil-password-1"


def test_block_all_on_a_class_cuts_its_pupil_and_not_another(lab: Lab, tmp_path: Path) -> None:
    config, path = portal_config(lab, tmp_path)
    add_user(path, "a.sixieme", "pupil", "6A", PASSWORD)
    add_user(path, "b.cinquieme", "pupil", "5B", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        assert portal_login(lab, "a.sixieme", PASSWORD).status == 200
        assert portal_login(lab, "b.cinquieme", PASSWORD, ns=lab.other).status == 200
        assert lab.connect(8080)[0] == "connected"
        assert lab.connect(8080, ns=lab.other)[0] == "connected"
        override = block_class(config, "6A")
        assert wait_until(lambda: lab.connect(8080, timeout=1)[0] != "connected"), portal.tail()
        assert lab.connect(8080, ns=lab.other)[0] == "connected"
        # The session is kept: when the teacher ends the control, the pupil is back.
        with_core(
            config,
            lambda core: filtering.end_override(core, override.id, actor="sdurand", source="t"),
        )
        assert wait_until(lambda: lab.connect(8080, timeout=1)[0] == "connected")


def test_kick_and_extend_from_the_admin_side(lab: Lab, tmp_path: Path) -> None:
    config, path = portal_config(lab, tmp_path)
    add_user(path, "l.bernard", "pupil", "6A", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        assert portal_login(lab, "l.bernard", PASSWORD).status == 200
        before = lab.table.state().clients[0].expires_in
        ends = with_core(
            config,
            lambda core: portal_admin.extend_session(
                core, "l.bernard", 120, actor="cmartin", source="t"
            ),
        )
        assert ends is not None
        # The kernel's element is put back with the longer timeout.
        assert wait_until(
            lambda: (
                all(c.expires_in > before + 100 * 60 for c in lab.table.state().clients)
                and len(lab.table.state().clients) == 1
            )
        ), portal.tail()
        assert lab.connect(8080)[0] == "connected"
        sessions = with_core(config, portal_admin.live_sessions)
        assert sessions[0]["user"] == "l.bernard"
        assert sessions[0]["devices"][0]["ip"] == CLIENT_IP
        kicked = with_core(
            config,
            lambda core: portal_admin.end_session(core, "l.bernard", actor="cmartin", source="t"),
        )
        assert kicked
        assert wait_until(lambda: lab.connect(8080, timeout=1)[0] != "connected")
        assert lab.table.state().clients == []
        assert state_rows(config, "SELECT * FROM network_clients") == []


def test_guest_voucher_one_device_then_revoked(lab: Lab, tmp_path: Path) -> None:
    config, path = portal_config(lab, tmp_path)
    ((voucher_id, code),) = with_core(
        config,
        lambda core: portal_admin.create_vouchers(
            core,
            count=1,
            minutes=60,
            max_devices=1,
            valid_days=7,
            label="Intervenant",
            actor="cmartin",
            source="t",
        ),
    )
    form = {"code": code.lower(), "charter": "accepted", "charter_version": "invites-2026-09"}
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        # #16 scope 6: a visitor accepts the visitors' charter, never the pupils'.
        pupils = lab.phone(
            "POST",
            LOGIN_PAGE.replace("login", "voucher"),
            form={**form, "charter_version": "2026-09"},
            token_page=LOGIN_PAGE,
        )
        assert pupils.status == 401
        assert "Charte des visiteurs" in pupils.body
        bad = lab.phone(
            "POST",
            LOGIN_PAGE.replace("login", "voucher"),
            form={**form, "code": "AAAAA-BBBBB"},
            token_page=LOGIN_PAGE,
        )
        assert bad.status == 401
        assert "Code invalide" in bad.body
        guest = lab.phone(
            "POST", LOGIN_PAGE.replace("login", "voucher"), form=form, token_page=LOGIN_PAGE
        )
        assert guest.status == 200, guest.body + portal.tail()
        assert lab.connect(8080)[0] == "connected"
        assert state_rows(config, "SELECT user, role FROM portal_sessions") == [
            (f"invite-{voucher_id}", "guest")
        ]
        assert state_rows(config, "SELECT version FROM portal_charter") == [("invites-2026-09",)]
        # The same code on a second phone: refused (one device), the first stays online.
        second = phone_request(
            lab.other,
            lab.other_jar,
            "POST",
            LOGIN_PAGE.replace("login", "voucher"),
            form=form,
            token_page=LOGIN_PAGE,
        )
        assert second.status == 403
        assert lab.connect(8080, ns=lab.other)[0] != "connected"
        assert lab.connect(8080)[0] == "connected"
        with_core(
            config,
            lambda core: portal_admin.revoke_voucher(core, voucher_id, actor="cmartin", source="t"),
        )
        assert wait_until(lambda: lab.connect(8080, timeout=1)[0] != "connected")


def test_reconcile_puts_back_a_lost_element_and_removes_a_foreign_one(
    lab: Lab, tmp_path: Path
) -> None:
    _, path = portal_config(lab, tmp_path)
    add_user(path, "l.bernard", "pupil", "6A", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        assert portal_login(lab, "l.bernard", PASSWORD).status == 200
        # Somebody flushes the element by hand, and slips the other phone in.
        lab.table.apply(ruleset.deauthorise(lab.client_mac, CLIENT_IP))
        lab.table.apply(ruleset.authorise(lab.other_mac, OTHER_IP, 3600))
        assert wait_until(
            lambda: (
                {(c.mac, c.ip) for c in lab.table.state().clients} == {(lab.client_mac, CLIENT_IP)}
            )
        ), portal.tail()
        assert lab.connect(8080)[0] == "connected"
        assert lab.connect(8080, timeout=1, ns=lab.other)[0] != "connected"


def test_past_the_daily_quota_a_pupil_is_slowed_not_cut(lab: Lab, tmp_path: Path) -> None:
    config, path = portal_config(
        lab,
        tmp_path,
        roles={"pupil": {"daily_quota_mb": 1}},
        fair_use_kbytes=32,
        daily_alert_mb=1,
    )
    add_user(path, "l.bernard", "pupil", "6A", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        assert portal_login(lab, "l.bernard", PASSWORD).status == 200
        assert lab.fetch(f"http://{WAN_IP}/small.bin")[0] == "ok"
        assert wait_until(
            lambda: state_rows(config, "SELECT throttled FROM portal_sessions") == [(1,)]
        ), portal.tail()
        status = lab.phone("GET", LOGIN_PAGE.replace("login", "status"))
        assert "Quota du jour atteint" in status.body
        # Still online, at the fair-use rate: 256 kB at 32 kB/s takes several seconds.
        outcome, size, seconds = lab.fetch(f"http://{WAN_IP}/quarter.bin", timeout=30)
        assert (outcome, size) == ("ok", QUARTER_BYTES)
        assert seconds >= (QUARTER_BYTES - 64 * 1024) / (32 * 1024) * 0.8
        # The other phone, not over any quota, is not slowed (same file, far faster).
        add_user(path, "b.autre", "pupil", "5B", PASSWORD)
        assert portal_login(lab, "b.autre", PASSWORD, ns=lab.other).status == 200
        other = lab.fetch(f"http://{WAN_IP}/quarter.bin", ns=lab.other)
        assert other[0] == "ok"
        assert other[2] < seconds / 2
        # The referent is alerted once about the account past the daily threshold.
        alerts = with_core(config, portal_admin.alerts)
        assert [(a["user"], a["kind"]) for a in alerts] == [("l.bernard", "daily")]


def test_a_rate_chosen_in_the_admin_ui_applies_at_once(lab: Lab, tmp_path: Path) -> None:
    config, path = portal_config(lab, tmp_path, fair_use_kbytes=0)
    add_user(path, "l.bernard", "pupil", "6A", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        assert portal_login(lab, "l.bernard", PASSWORD).status == 200
        assert lab.fetch(f"http://{WAN_IP}/quarter.bin")[0] == "ok"
        # No rate tier exists yet: the referent picks 32 kB/s for pupils.
        with_core(
            config,
            lambda core: portal_admin.set_role_settings(
                core, "pupil", {"rate_kbytes": 32}, actor="cmartin", source="t"
            ),
        )
        assert wait_until(lambda: CLIENT_IP in lab.table.state().rates.get(32, set())), (
            portal.tail()
        )
        outcome, size, seconds = lab.fetch(f"http://{WAN_IP}/quarter.bin", timeout=30)
        assert (outcome, size) == ("ok", QUARTER_BYTES)
        assert seconds >= (QUARTER_BYTES - 32 * 1024) / (32 * 1024) * 0.8
        # Counters survived: the table was not reloaded.
        assert lab.table.state().clients[0].down_bytes > QUARTER_BYTES

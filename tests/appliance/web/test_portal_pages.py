"""The Wi-Fi portal's admin API and page: sessions (kick, extend), vouchers
shown once, charter versions, usage export (issue #4 scopes 7 and 10;
CARMO #7.48, #7.49, 9.2.3)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient

from appliance.config_overlay import read_overlay, write_overlay
from appliance.core import Core
from captive_portal import state as portal_admin
from captive_portal.config import PortalConfig
from tests.appliance.web.conftest import api_login


async def seed_session(core: Core, user: str = "eleve", ip: str = "10.77.0.2") -> None:
    """Write an open session as the portal process would."""
    now = time.time()
    day = portal_admin.local_day(core, now)
    async with core.db.write() as tx:
        await tx.execute(
            "INSERT INTO portal_sessions (user, role, started_at, ends_at, bytes_used,"
            " class_name) VALUES (?, 'pupil', ?, ?, 5000000, '6A')",
            (user, now, now + 3600),
        )
        await tx.execute(
            "INSERT INTO portal_devices (mac, ip, user, attached_at, last_active, randomised)"
            " VALUES ('02:aa:bb:cc:dd:ee', ?, ?, ?, ?, 1)",
            (ip, user, now, now),
        )
        await tx.execute(
            "INSERT INTO portal_usage (day, user, mac, up_bytes, down_bytes)"
            " VALUES (?, ?, '02:aa:bb:cc:dd:ee', 1000000, 4000000)",
            (day, user),
        )
        await tx.execute(
            "INSERT INTO network_clients (address, person_id, role, class_name, level,"
            " expires_at) VALUES (?, ?, 'pupil', '6A', '', ?)",
            (ip, user, now + 3600),
        )


async def test_only_the_referent_sees_the_portal_api(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/v1/portal/sessions")).status == 401
    await api_login(client, "eleve")
    assert (await client.get("/api/v1/portal/sessions")).status == 403


async def test_sessions_extend_and_kick(client: TestClient[Any, Any], core: Core) -> None:
    await seed_session(core)
    csrf = await api_login(client, "referent")
    sessions = (await (await client.get("/api/v1/portal/sessions")).json())["sessions"]
    assert [s["user"] for s in sessions] == ["eleve"]
    assert sessions[0]["devices"][0]["randomised"] is True
    assert sessions[0]["devices"][0]["down_bytes"] == 4_000_000
    before = sessions[0]["ends_at"]
    headers = {"X-CSRF-Token": csrf}
    extended = await client.post(
        "/api/v1/portal/sessions/eleve/extend", json={"minutes": 30}, headers=headers
    )
    assert extended.status == 200
    assert (await extended.json())["ends_at"] == before + 1800
    too_long = await client.post(
        "/api/v1/portal/sessions/eleve/extend", json={"minutes": 5000}, headers=headers
    )
    assert too_long.status == 422
    kicked = await client.delete("/api/v1/portal/sessions/eleve", headers=headers)
    assert kicked.status == 200
    assert await core.db.fetchall("SELECT * FROM network_clients") == []
    again = await client.delete("/api/v1/portal/sessions/eleve", headers=headers)
    assert again.status == 404
    audit = [e["action"] for e in await core.audit.recent(10)]
    assert "portal.kick" in audit
    assert "portal.extend" in audit


async def test_voucher_codes_are_shown_once_and_only_hashed(
    client: TestClient[Any, Any], core: Core
) -> None:
    csrf = await api_login(client, "referent")
    created = await client.post(
        "/api/v1/portal/vouchers",
        json={"count": 3, "minutes": 90, "label": "Conseil d'école"},
        headers={"X-CSRF-Token": csrf},
    )
    assert created.status == 201
    codes = [v["code"] for v in (await created.json())["vouchers"]]
    assert len(set(codes)) == 3
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    listed = (await (await client.get("/api/v1/portal/vouchers")).json())["vouchers"]
    assert all("code" not in v and "code_hash" not in v for v in listed)
    dump = "\n".join(str(tuple(r)) for r in await core.db.fetchall("SELECT * FROM portal_vouchers"))
    assert not any(c.replace("-", "") in dump for c in codes)
    # A code works once started, typed in any case and with spaces; a wrong one does not.
    grant = await portal_admin.redeem_voucher(core, " " + codes[0].lower().replace("-", " "))
    assert grant is not None
    assert grant.user.startswith("invite-")
    assert 89 * 60 < grant.ends_at - time.time() <= 90 * 60
    assert await portal_admin.redeem_voucher(core, "ABCDE-FGHJK") is None
    revoked = await client.delete(
        f"/api/v1/portal/vouchers/{grant.voucher_id}", headers={"X-CSRF-Token": csrf}
    )
    assert revoked.status == 200
    assert await portal_admin.redeem_voucher(core, codes[0]) is None


async def test_voucher_time_counts_from_first_use_and_unused_ones_expire(core: Core) -> None:
    ((_, code),) = await portal_admin.create_vouchers(
        core, count=1, minutes=60, max_devices=1, valid_days=1, label="", actor="r", source="t"
    )
    later = time.time() + 3 * 86_400
    assert await portal_admin.redeem_voucher(core, code, now=later) is None  # never started
    ((_, fresh),) = await portal_admin.create_vouchers(
        core, count=1, minutes=60, max_devices=1, valid_days=1, label="", actor="r", source="t"
    )
    start = time.time()
    first = await portal_admin.redeem_voucher(core, fresh, now=start)
    assert first is not None
    second = await portal_admin.redeem_voucher(core, fresh, now=start + 1800)
    assert second is not None
    assert second.ends_at == first.ends_at  # the hour started at first use
    assert await portal_admin.redeem_voucher(core, fresh, now=start + 3601) is None


async def test_charter_versions(client: TestClient[Any, Any], core: Core) -> None:
    csrf = await api_login(client, "referent")
    headers = {"X-CSRF-Token": csrf}
    listed = await (await client.get("/api/v1/portal/charters")).json()
    assert listed["current"] == "2026-09"  # the configured first version
    new = await client.post(
        "/api/v1/portal/charters",
        json={"version": "2027-01", "text": "Je respecte les autres."},
        headers=headers,
    )
    assert new.status == 201
    assert (await portal_admin.current_charter(core)).version == "2027-01"
    same = await client.post(
        "/api/v1/portal/charters", json={"version": "2027-01", "text": "x"}, headers=headers
    )
    assert same.status == 422
    assert "version" in (await same.json())["error"]["message"]
    bad = await client.post(
        "/api/v1/portal/charters", json={"version": "a b", "text": "x"}, headers=headers
    )
    assert bad.status == 422


async def test_usage_export_json_and_csv(client: TestClient[Any, Any], core: Core) -> None:
    await seed_session(core)
    await api_login(client, "referent")
    data = await (await client.get("/api/v1/portal/usage")).json()
    assert data["usage"] == [
        {
            "day": portal_admin.local_day(core),
            "user": "eleve",
            "up_bytes": 1_000_000,
            "down_bytes": 4_000_000,
            "devices": 1,
        }
    ]
    csv = await client.get("/api/v1/portal/usage?per=device&format=csv")
    assert csv.content_type == "text/csv"
    lines = (await csv.text()).splitlines()
    assert lines[0] == "day,user,mac,up_bytes,down_bytes"
    assert lines[1].endswith(",eleve,02:aa:bb:cc:dd:ee,1000000,4000000")
    bad = await client.get("/api/v1/portal/usage?from=yesterday")
    assert bad.status == 422


async def test_usage_past_retention_is_purged(core: Core) -> None:
    old = portal_admin.local_day(core, time.time() - 200 * 86_400)
    recent = portal_admin.local_day(core)
    async with core.db.write() as tx:
        for day in (old, recent):
            await tx.execute(
                "INSERT INTO portal_usage (day, user, mac, up_bytes, down_bytes)"
                " VALUES (?, 'u', '02:00:00:00:00:01', 1, 1)",
                (day,),
            )
    assert await portal_admin.purge_usage(core) == 1
    assert [r["day"] for r in await core.db.fetchall("SELECT day FROM portal_usage")] == [recent]


async def test_portal_page_lists_sessions_and_prints_vouchers(
    client: TestClient[Any, Any], core: Core
) -> None:
    await seed_session(core)
    await api_login(client, "referent")
    page = await (await client.get("/portal")).text()
    assert "Connexions en cours (1)" in page
    assert "adresse aléatoire" in page
    assert "2026-09" in page
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    printed = await client.post(
        "/portal/vouchers",
        data={"csrf_token": token, "count": "2", "minutes": "120", "label": "Réunion"},
    )
    text = await printed.text()
    assert printed.status == 200, text
    assert text.count('class="voucher"') == 2
    assert "imprimez cette page" in text
    assert printed.headers["Cache-Control"] == "no-store"


async def test_role_rules_are_changed_from_the_api_and_the_page(
    client: TestClient[Any, Any], core: Core
) -> None:
    csrf = await api_login(client, "referent")
    headers = {"X-CSRF-Token": csrf}
    roles = await (await client.get("/api/v1/portal/roles")).json()
    assert roles["pupil"]["max_devices"] == 2
    assert roles["pupil"]["daily_quota_mb"] is None
    changed = await client.post(
        "/api/v1/portal/roles/pupil",
        json={"daily_quota_mb": 500, "rate_kbytes": 200},
        headers=headers,
    )
    assert changed.status == 200, await changed.text()
    rules = await portal_admin.role_settings(core)
    assert rules["pupil"].daily_quota_mb == 500
    assert rules["pupil"].max_devices == 2  # untouched keys keep preau.toml's value
    assert rules["teacher"].daily_quota_mb is None
    for body, key in (
        ({"max_devices": 0}, "max_devices"),
        ({"bogus": 1}, "bogus"),
        ({"hard_minutes": None}, "hard_minutes"),
        # Issue #11: bounds come from the one declaration (PortalRoleConfig).
        ({"daily_quota_mb": 10**40}, "daily_quota_mb"),
        ({"rate_kbytes": 10**12}, "rate_kbytes"),
        ({"idle_minutes": 1e300}, "idle_minutes"),
    ):
        refused = await client.post("/api/v1/portal/roles/pupil", json=body, headers=headers)
        assert refused.status == 422
        assert key in (await refused.json())["error"]["message"]
    unknown = await client.post(
        "/api/v1/portal/roles/director", json={"max_devices": 3}, headers=headers
    )
    assert unknown.status == 422
    cleared = await client.post(
        "/api/v1/portal/roles/pupil", json={"daily_quota_mb": None}, headers=headers
    )
    assert (await cleared.json())["daily_quota_mb"] is None
    assert (await portal_admin.role_settings(core))["pupil"].rate_kbytes == 200
    # The page's form for one role.
    page = await (await client.get("/portal")).text()
    assert 'id="role-guest"' in page
    form = {
        "csrf_token": csrf,
        "role": "guest",
        "hard_minutes": "90",
        "idle_minutes": "15",
        "max_devices": "1",
        "concurrent": "refuse",
        "daily_quota_mb": "300",
        "rate_kbytes": "",
    }
    saved = await client.post("/portal/roles", data=form, allow_redirects=False)
    assert saved.status == 303
    guest = (await portal_admin.role_settings(core))["guest"]
    assert (guest.hard_minutes, guest.ends_with_school_day, guest.daily_quota_mb) == (
        90,
        False,
        300,
    )
    assert "portal.roles" in [e["action"] for e in await core.audit.recent(10)]


async def test_a_rule_the_centre_locks_beats_the_page(
    client: TestClient[Any, Any], core: Core
) -> None:
    """The centre can lock a setting; otherwise local wins (#14 scope 2)."""
    csrf = await api_login(client, "referent")
    headers = {"X-CSRF-Token": csrf}
    changed = await client.post(
        "/api/v1/portal/roles/pupil", json={"rate_kbytes": 200, "max_devices": 3}, headers=headers
    )
    assert changed.status == 200
    # The centre's policy locks the pupils' rate (the sync feature writes this overlay).
    write_overlay(
        core.config.site.data_dir,
        {"portal": {"roles": {"pupil": {"rate_kbytes": 50}}}},
        locked=["portal.roles.pupil.rate_kbytes"],
    )
    assert read_overlay(core.config.site.data_dir)[0] == {
        "portal": {"roles": {"pupil": {"rate_kbytes": 50}}}
    }
    rules = (await portal_admin.role_settings(core))["pupil"]
    configured = core.config.section(PortalConfig).roles["pupil"]
    assert rules.rate_kbytes == configured.rate_kbytes  # the config's, not the page's 200
    assert rules.max_devices == 3  # not locked: the page's change stays
    refused = await client.post(
        "/api/v1/portal/roles/pupil", json={"rate_kbytes": 400}, headers=headers
    )
    assert refused.status == 422
    assert "verrouillé par le centre" in (await refused.json())["error"]["message"]
    # A lock on the whole role locks each of its rules.
    write_overlay(core.config.site.data_dir, {}, locked=["portal.roles.pupil"])
    assert (await portal_admin.role_settings(core))["pupil"].max_devices == configured.max_devices

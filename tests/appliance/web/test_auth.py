"""Logins: roles, throttling without lockout, audit, sessions (#5.14, ASVS V2.2.1)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.identity.service import DirectoryService
from appliance.web.app import create_app
from tests.appliance.web.conftest import PASSWORDS, ClientFactory, api_login, seed_local_people
from tests.conftest import LdapServer, SchoolCA, ldap_section, make_config, opened_core


async def test_local_people_log_in_with_their_roles(client: TestClient[Any, Any]) -> None:
    for login, role in (("referent", "referent"), ("prof", "teacher"), ("eleve", "pupil")):
        response = await client.post(
            "/api/v1/session", json={"login": login, "password": PASSWORDS[login]}
        )
        assert response.status == 200
        assert (await response.json())["role"] == role


async def test_wrong_password_is_refused_and_audited(
    client: TestClient[Any, Any], core: Core
) -> None:
    response = await client.post(
        "/api/v1/session", json={"login": "referent", "password": "not-the-password"}
    )
    assert response.status == 401
    entries = await core.audit.recent(5)
    assert entries[0]["action"] == "login"
    assert entries[0]["outcome"] == "failure"
    assert "not-the-password" not in repr(entries)


async def test_pupil_cannot_reach_admin_pages(client: TestClient[Any, Any]) -> None:
    await api_login(client, "eleve")
    response = await client.get("/dashboard", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/account"
    response = await client.get("/api/v1/health")
    assert response.status == 403


async def test_logout_revokes_the_session_server_side(client: TestClient[Any, Any]) -> None:
    token = await api_login(client, "referent")
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["preau_session"].value
    response = await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
    assert response.status == 200
    # Replaying the old cookie does not work any more.
    response = await client.get("/api/v1/me", cookies={"preau_session": cookie})
    assert response.status == 401


async def test_idle_session_expires(client: TestClient[Any, Any], core: Core) -> None:
    await api_login(client, "referent")
    await core.db.execute_write("UPDATE sessions SET last_seen = last_seen - 31 * 60")
    response = await client.get("/api/v1/me")
    assert response.status == 401


async def test_absolute_session_lifetime(client: TestClient[Any, Any], core: Core) -> None:
    await api_login(client, "referent")
    await core.db.execute_write("UPDATE sessions SET expires_at = ?", (time.time() - 1,))
    response = await client.get("/api/v1/me")
    assert response.status == 401


@pytest.mark.timeout(120)
async def test_brute_force_from_one_address_is_throttled_not_a_lockout(
    core: Core, aiohttp_server: Any
) -> None:
    await seed_local_people(core)
    server = await aiohttp_server(create_app(core), host="127.0.0.1")
    url = f"http://127.0.0.1:{server.port}/api/v1/session"
    statuses: list[int] = []
    attacker = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=attacker) as session:
        for index in range(300):
            async with session.post(
                url, json={"login": "referent", "password": f"guess-{index}"}
            ) as response:
                statuses.append(response.status)
    assert time.monotonic() - started < 60
    assert statuses.count(401) <= 30
    assert statuses.count(429) >= 270
    throttled = await core.db.fetchone(
        "SELECT COUNT(*) FROM audit WHERE actor = 'referent' AND outcome = 'throttled'"
        " AND source = '127.0.0.2'"
    )
    failures = await core.db.fetchone(
        "SELECT COUNT(*) FROM audit WHERE actor = 'referent' AND outcome = 'failure'"
    )
    assert throttled is not None
    assert failures is not None
    assert throttled[0] + failures[0] == 300  # every attempt logged
    # The real referent, from another address, still gets in.
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))
    ) as session:
        async with session.post(
            url, json={"login": "referent", "password": PASSWORDS["referent"]}
        ) as response:
            assert response.status == 200
            assert (await response.json())["role"] == "referent"


async def test_throttled_form_login_says_when_to_retry(client: TestClient[Any, Any]) -> None:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token is not None
    last = None
    for _ in range(12):
        last = await client.post(
            "/login",
            data={"login": "prof", "password": "bad-password", "csrf_token": token.group(1)},
        )
    assert last is not None
    assert last.status == 429
    assert "Trop de tentatives" in await last.text()
    assert int(last.headers["Retry-After"]) >= 1


@pytest.mark.timeout(90)
async def test_directory_outage_keeps_sessions_and_shows_on_dashboard(
    tmp_path: Path,
    slapd_factory: Any,
    test_ca: SchoolCA,
    aiohttp_client: ClientFactory,
) -> None:
    server: LdapServer = slapd_factory()
    section = ldap_section(server, test_ca.ca_cert, tmp_path)
    config = make_config(
        tmp_path / "data", identity={"ldap": section, "health_interval_seconds": 0.2}
    )
    async with opened_core(config) as core:
        await core.async_start_services([DirectoryService(core)])
        client = await aiohttp_client(create_app(core))
        referent = server.accounts["cmartin"]
        await api_login(client, "cmartin", referent.password)
        dashboard = await client.get("/dashboard")
        assert 'data-service="directory" data-status="ok"' in await dashboard.text()

        server.stop()
        # Already logged in: still logged in.
        me = await client.get("/api/v1/me")
        assert me.status == 200
        assert (await me.json())["role"] == "referent"
        # A new directory login says the directory is down, not "wrong password".
        async with aiohttp.ClientSession() as other:
            response = await other.post(
                client.make_url("/api/v1/session"),
                json={"login": "sdurand", "password": server.accounts["sdurand"].password},
            )
            assert response.status == 503
        for _ in range(50):
            dashboard = await client.get("/dashboard")
            text = await dashboard.text()
            if 'data-service="directory" data-status="down"' in text:
                break
            await asyncio.sleep(0.1)
        assert 'data-service="directory" data-status="down"' in text
        assert "Injoignable" in text
        await core.async_stop_services()


async def test_referent_ends_another_persons_sessions(client: TestClient[Any, Any]) -> None:
    pupil = await client.post(
        "/api/v1/session", json={"login": "eleve", "password": PASSWORDS["eleve"]}
    )
    pupil_cookie = pupil.cookies["preau_session"].value
    token = await api_login(client, "referent")
    listed = await client.get("/api/v1/sessions")
    people = {row["person_id"] for row in (await listed.json())["sessions"]}
    assert {"eleve", "referent"} <= people
    assert "token" not in repr(await listed.json())
    ended = await client.delete("/api/v1/sessions/eleve", headers={"X-CSRF-Token": token})
    assert (await ended.json())["ended"] == 1
    me = await client.get("/api/v1/me", cookies={"preau_session": pupil_cookie})
    assert me.status == 401


async def test_new_password_ends_old_sessions(client: TestClient[Any, Any], core: Core) -> None:
    from appliance.identity.model import Person
    from tests.conftest import SCHOOL_UAI

    await api_login(client, "prof")
    assert (await client.get("/api/v1/me")).status == 200
    await core.directory.add_local_person(
        Person("prof", "local", "Sophie Durand", "teacher", SCHOOL_UAI), "a brand new password"
    )
    assert (await client.get("/api/v1/me")).status == 401

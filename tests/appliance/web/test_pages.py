"""Admin pages: directory, settings (secrets masked), closed days by form, languages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.i18n import N_
from appliance.service import Health, Service
from appliance.web.app import create_app
from tests.appliance.web.conftest import (
    PASSWORDS,
    ClientFactory,
    api_login,
    login_as,
    seed_local_people,
)
from tests.conftest import make_config, opened_core


async def form_token(client: TestClient[Any, Any], path: str) -> str:
    page = await client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert match is not None
    return match.group(1)


async def test_directory_page_lists_classes_and_people(client: TestClient[Any, Any]) -> None:
    await api_login(client, "referent")
    page = await client.get("/directory")
    text = await page.text()
    assert page.status == 200
    assert "6A (1)" in text
    filtered = await (await client.get("/directory", params={"class": "6A"})).text()
    assert "Jo D." in filtered
    assert "Sophie Durand" not in filtered


async def test_settings_show_effective_config_with_secrets_masked(
    client: TestClient[Any, Any],
) -> None:
    await api_login(client, "referent")
    text = await (await client.get("/settings")).text()
    assert "Annuaire et comptes" in text  # the section, in words
    assert "<code>session_idle_minutes</code></dt><dd><code>30</code>" in text
    # Unset in this config: shown as unset, never as a masked (set) secret.
    assert "<code>ldap.bind_password_file</code></dt><dd><code>—</code>" in text
    assert "bind_password_file</code></dt><dd><code>••••••" not in text


async def test_settings_mask_a_secret_that_is_set(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    """A set secret's value (here a path) never reaches the page; the key shows as set."""
    secret = tmp_path / "bind-password-canary"
    config = make_config(tmp_path / "data", identity={"ldap": {"bind_password_file": str(secret)}})
    async with opened_core(config) as core:
        await seed_local_people(core)
        client = await aiohttp_client(create_app(core))
        await api_login(client, "referent")
        text = await (await client.get("/settings")).text()
        await client.close()
    assert "<code>ldap.bind_password_file</code></dt><dd><code>••••••</code>" in text
    assert "bind-password-canary" not in text


async def test_closed_day_added_and_removed_by_form(client: TestClient[Any, Any]) -> None:
    await api_login(client, "referent")
    token = await form_token(client, "/settings")
    added = await client.post(
        "/settings/closed-days", data={"day": "2027-05-07", "reason": "Pont", "csrf_token": token}
    )
    assert added.status == 200
    assert "2027-05-07 — Pont" in await added.text()
    removed = await client.post(
        "/settings/closed-days/delete", data={"day": "2027-05-07", "csrf_token": token}
    )
    assert "2027-05-07 — Pont" not in await removed.text()
    bad = await client.post(
        "/settings/closed-days", data={"day": "07/05/2027", "csrf_token": token}
    )
    assert bad.status == 400


async def test_english_is_available_and_remembered(client: TestClient[Any, Any]) -> None:
    page = await client.get("/login", params={"lang": "en"})
    assert '<html lang="en">' in await page.text()
    again = await client.get("/login")
    assert "<h1>Log in</h1>" in await again.text()


async def test_service_details_read_in_the_readers_language(
    client: TestClient[Any, Any], core: Core
) -> None:
    """A health detail is a message of the catalogues, not "français / English" (#12)."""

    class Counting(Service):
        name = "scheduler"

        async def async_start(self) -> None:
            pass

        async def async_stop(self) -> None:
            pass

        async def async_health(self) -> Health:
            return Health("ok", N_("%(jobs)s tâches planifiées"), {"jobs": 7})

    core.services["scheduler"] = Counting(core)
    try:
        await core.report_health()
    finally:
        del core.services["scheduler"]
    await login_as(client, "referent")
    french = await (await client.get("/dashboard", params={"lang": "fr"})).text()
    assert "7 tâches planifiées" in french
    assert "jobs planned" not in french
    english = await (await client.get("/dashboard", params={"lang": "en"})).text()
    assert "7 jobs planned" in english
    health = await (await client.get("/api/v1/health", params={"lang": "en"})).json()
    details = {s["name"]: s["detail"] for s in health["services"]}
    assert details["scheduler"] == "7 jobs planned"


async def test_each_role_lands_where_it_works(client: TestClient[Any, Any]) -> None:
    """#16 scope 7: the referent on the dashboard, a teacher on the class, a pupil on files."""
    for login, landing in (
        ("referent", "/dashboard"),
        ("prof", "/internet"),
        ("eleve", "/fichiers"),
    ):
        await client.delete("/api/v1/session")
        page = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
        assert token is not None
        form = {"login": login, "password": PASSWORDS[login], "csrf_token": token.group(1)}
        response = await client.post("/login", data=form, allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"] == landing
        home = await client.get("/", allow_redirects=False)
        assert home.headers["Location"] == landing

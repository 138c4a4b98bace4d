"""Error pages people can read: the UI's own page, in their language, with a way on (#16)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.web.app import create_app
from tests.appliance.web.conftest import ClientFactory, login_as, seed_local_people

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_a_missing_page_is_a_page_of_the_ui_with_a_way_back(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/nulle-part", headers=BROWSER)
    assert response.status == 404
    body = await response.text()
    assert '<h1 id="error-title">Page introuvable</h1>' in body
    assert '<a href="/">Retour à l\'accueil</a>' in body
    assert '<link rel="stylesheet" href="/static/preau.css">' in body
    assert "404: Not Found" not in body
    english = await client.get("/nulle-part", params={"lang": "en"}, headers=BROWSER)
    assert '<h1 id="error-title">Page not found</h1>' in await english.text()


async def test_programs_and_the_api_keep_their_plain_answers(
    client: TestClient[Any, Any],
) -> None:
    plain = await client.get("/nulle-part", headers={"Accept": "*/*"})
    assert plain.status == 404
    assert await plain.text() == "404: Not Found"
    api = await client.get("/api/v1/nulle-part", headers=BROWSER)
    assert api.status == 404
    assert "error-title" not in await api.text()


async def test_a_refusal_keeps_its_own_sentence(client: TestClient[Any, Any]) -> None:
    token = await login_as(client, "referent")
    response = await client.post(
        "/settings/closed-days", data={"csrf_token": token, "day": "demain"}, headers=BROWSER
    )
    assert response.status == 400
    body = await response.text()
    assert '<h1 id="error-title">Demande incomplète ou incorrecte</h1>' in body
    assert "une date AAAA-MM-JJ est attendue" in body
    # The referent is still logged in: the page has the menu.
    assert 'href="/dashboard"' in body


async def test_a_crash_shows_a_calm_page_and_logs_its_trace(
    core: Core, aiohttp_client: ClientFactory, caplog: Any
) -> None:
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    await seed_local_people(core)
    app = create_app(core)
    app.router.add_get("/boom", boom)
    client = await aiohttp_client(app)
    response = await client.get("/boom", headers=BROWSER)
    assert response.status == 500
    body = await response.text()
    assert "Le boîtier a rencontré une erreur" in body
    assert "Rien n'a été perdu" in body
    assert "secret internals" not in body
    assert "secret internals" in caplog.text

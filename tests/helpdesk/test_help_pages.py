"""Help pages: guides, the FAQ, requests the referent answers (#16 scope 2, CARMO #10.3, #10.5)."""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp.test_utils import TestClient

from appliance.core import Core
from helpdesk import help_requests
from tests.appliance.web.conftest import login_as


async def form_token(client: TestClient[Any, Any], path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', await (await client.get(path)).text())
    assert match is not None, path
    return match.group(1)


async def ask(client: TestClient[Any, Any], topic: str, message: str, page: str = "") -> Any:
    token = await form_token(client, "/aide")
    form = {"csrf_token": token, "topic": topic, "message": message, "depuis": page}
    return await client.post("/aide/demande", data=form, allow_redirects=False)


async def test_help_opens_without_a_login_and_offers_the_login(
    client: TestClient[Any, Any],
) -> None:
    page = await client.get("/aide")
    assert page.status == 200
    text = await page.text()
    assert "Guides pas à pas" in text
    assert "Quel identifiant utiliser ?" in text
    assert "Connectez-vous pour écrire" in text
    assert 'action="/aide/demande"' not in text
    # The login page links to help, for who cannot log in.
    assert 'href="/aide"' in await (await client.get("/login")).text()
    guide = await client.get("/aide/guide/couper-internet")
    assert guide.status == 200
    assert "Couper Internet pour la classe" in await guide.text()
    assert (await client.get("/aide/guide/nulle-part")).status == 404
    assert (await client.get("/aide/captures/..%2Fpages.py")).status == 404


async def test_a_pupil_asks_and_reads_the_referents_answer(
    client: TestClient[Any, Any], core: Core
) -> None:
    await login_as(client, "eleve")
    sent = await ask(client, "files", "Je ne trouve plus mon exposé\nd'histoire.", "/fichiers")
    assert sent.status == 303
    mine = await (await client.get("/aide?envoyee=1")).text()
    assert "Demande envoyée" in mine
    assert "Je ne trouve plus mon exposé\nd&#39;histoire." in mine
    assert "en attente" in mine
    # Only the referent sees every request.
    assert (await client.get("/aide/demandes", allow_redirects=False)).status == 303
    await login_as(client, "referent")
    dashboard = await (await client.get("/dashboard")).text()
    assert "Demandes d&#39;aide sans réponse : 1." in dashboard
    desk = await (await client.get("/aide/demandes")).text()
    assert "Jo D." in desk
    assert 'href="/fichiers"' in desk
    number = re.search(r'action="/aide/demandes/(\d+)/reponse"', desk)
    assert number is not None
    token = await form_token(client, "/aide/demandes")
    empty = await client.post(
        f"/aide/demandes/{number.group(1)}/reponse", data={"csrf_token": token, "answer": " "}
    )
    assert empty.status == 400
    assert "Réponse : écrivez quelques mots." in await empty.text()
    done = await client.post(
        f"/aide/demandes/{number.group(1)}/reponse",
        data={
            "csrf_token": token,
            "answer": "Il est dans la corbeille : je le remets.",
            "close": "1",
        },
        allow_redirects=False,
    )
    assert done.status == 303
    assert "sans réponse" not in await (await client.get("/dashboard")).text()
    await login_as(client, "eleve")
    mine = await (await client.get("/aide")).text()
    assert "Il est dans la corbeille" in mine
    assert 'data-state="closed"' in mine
    actions = [entry["action"] for entry in await core.audit.recent(10)]
    assert {"help.ask", "help.answer", "help.close"} <= set(actions)


async def test_a_bad_request_is_refused_and_kept_in_the_form(client: TestClient[Any, Any]) -> None:
    await login_as(client, "prof")
    wrong_topic = await ask(client, "nope", "Bonjour")
    assert wrong_topic.status == 400
    assert "Sujet : choisissez-en un" in await wrong_topic.text()
    control = await ask(client, "other", "Bonjour\x00")
    assert control.status == 400
    assert "caractères de contrôle refusés" in await control.text()
    long = await ask(client, "other", "x" * 2001)
    assert long.status == 400
    assert "au plus 2000 caractères" in await long.text()
    kept = await ask(client, "internet", "")
    assert kept.status == 400
    assert 'value="internet" selected' in await kept.text()
    for index in range(help_requests.MAX_OPEN_PER_PERSON):
        assert (await ask(client, "other", f"Demande {index}")).status == 303
    too_many = await ask(client, "other", "Encore une")
    assert too_many.status == 400
    assert "demandes en cours" in await too_many.text()


async def test_the_menu_link_carries_the_page_for_help_about_it(
    client: TestClient[Any, Any],
) -> None:
    await login_as(client, "prof")
    page = await (await client.get("/internet")).text()
    assert 'href="/aide?depuis=/internet"' in page
    help_page = await (await client.get("/aide?depuis=/internet")).text()
    assert "Aide sur cette page" in help_page
    assert 'href="/aide/guide/couper-internet"' in help_page
    assert "Aide sur cette page" not in await (await client.get("/aide?depuis=//evil")).text()


async def test_closed_requests_are_erased_after_a_year(core: Core) -> None:
    old = await help_requests.ask(core, "eleve", "pupil", "other", "Ancienne", "")
    recent = await help_requests.ask(core, "eleve", "pupil", "other", "Récente", "")
    kept_open = await help_requests.ask(core, "eleve", "pupil", "other", "Ouverte", "")
    await help_requests.close(core, old)
    await help_requests.close(core, recent)
    year = help_requests.RETENTION_DAYS * 86_400
    await core.db.execute_write(
        "UPDATE help_requests SET closed_at = ? WHERE id = ?", (time.time() - year - 60, old)
    )
    assert await help_requests.purge(core) == 1
    left = {row.id for row in await help_requests.mine(core, "eleve")}
    assert left == {recent, kept_open}


async def test_a_box_without_a_centre_offers_no_forwarding(client: TestClient[Any, Any]) -> None:
    await login_as(client, "eleve")
    assert (await ask(client, "device", "La tablette 3 ne s'allume plus.")).status == 303
    await login_as(client, "referent")
    desk = await (await client.get("/aide/demandes")).text()
    assert "Transmettre à l&#39;équipe de la collectivité" not in desk
    number = re.search(r'action="/aide/demandes/(\d+)/reponse"', desk)
    assert number is not None
    token = await form_token(client, "/aide/demandes")
    refused = await client.post(
        f"/aide/demandes/{number.group(1)}/transmettre",
        data={"csrf_token": token, "summary": "Tablette 3 en panne."},
    )
    assert refused.status == 409
    assert "pas relié au centre" in await refused.text()

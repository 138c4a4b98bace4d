"""The referent's "Imports" page (issue #13 scope 1 and 2): a file is previewed, nothing
is written until "Enregistrer", and the first passwords are a file to download, then delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.identity.model import Person
from tests.appliance.web.conftest import login_as
from tests.conftest import SCHOOL_UAI

FIXTURES = Path(__file__).parents[2] / "fixtures"


STS = (FIXTURES / "sts" / "STS_emp_0750001A_2026.xml").read_bytes()
SIECLE = (FIXTURES / "aaf" / "siecle-eleves.csv").read_bytes()
NOT_A_CALENDAR = b"%PDF-1.4 not a calendar"


async def _send(
    client: TestClient[Any, Any], token: str, kind: str, data: bytes, teacher: str = ""
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("kind", kind)
    form.add_field("enseignant", teacher)
    form.add_field("fichier", data, filename=f"fichier-{kind}")
    return await client.post(f"/imports?csrf_token={token}", data=form)


def _field(page: str, name: str) -> str:
    marker = f'name="{name}" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


async def test_sts_is_previewed_then_stored(client: TestClient[Any, Any], core: Core) -> None:
    await core.directory.add_local_person(
        Person("prof.durand", "local", "Sophie Durand", "teacher", SCHOOL_UAI, "Sophie",
               "Durand"),
        "teacher-password-1",
    )  # fmt: skip
    await core.directory.add_local_person(
        Person("eleve5b", "local", "E", "pupil", SCHOOL_UAI, class_name="5B"), "pupil-password-2"
    )
    token = await login_as(client, "referent")
    sent = await _send(client, token, "sts", STS)
    page = await sent.text()
    assert sent.status == 200, page
    assert "1 enseignants reconnus, 2 liens enseignant-classe, 2 classes." in page
    assert "+ prof.durand 5B" in page
    assert await core.directory.links_from("sts") == set()  # nothing written yet
    pending = list((core.config.site.data_dir / "imports" / "attente").iterdir())
    assert len(pending) == 1
    stored = await client.post(
        "/imports/enregistrer",
        data={"csrf_token": token, "token": _field(page, "token"), "kind": "sts",
              "enseignant": "", "action": "store"},
    )  # fmt: skip
    assert stored.status == 200
    assert "Enregistré : 2 liens" in await stored.text()
    assert await core.directory.classes_taught("prof.durand") == ["5B", "6A"]
    assert not pending[0].exists()  # forgotten once stored
    again = await client.post(
        "/imports/enregistrer",
        data={"csrf_token": token, "token": _field(page, "token"), "kind": "sts",
              "action": "store"},
    )  # fmt: skip
    assert again.status == 410


async def test_people_with_first_passwords_to_download_then_delete(
    client: TestClient[Any, Any], core: Core
) -> None:
    token = await login_as(client, "referent")
    sent = await _send(client, token, "people", SIECLE)
    page = await sent.text()
    assert "Nouveaux comptes : 3" in page
    stored = await client.post(
        "/imports/enregistrer",
        data={"csrf_token": token, "token": _field(page, "token"), "kind": "people",
              "action": "store"},
    )  # fmt: skip
    text = await stored.text()
    assert "Premiers mots de passe" in text
    name = text.split("/imports/mots-de-passe/")[1].split('"')[0]
    download = await client.get(f"/imports/mots-de-passe/{name}")
    assert download.status == 200
    body = await download.text()
    assert body.startswith("identifiant,nom,classe,premier mot de passe")
    assert "anne-sophie.dupont-moreau" in body
    gone = await client.post(f"/imports/mots-de-passe/{name}", data={"csrf_token": token})
    assert gone.status == 200  # back on the page
    assert (await client.get(f"/imports/mots-de-passe/{name}")).status == 404
    assert (await client.get("/imports/mots-de-passe/..%2Fstate.db")).status == 404


async def test_a_bad_file_is_refused_in_words_and_a_teacher_cannot_import(
    client: TestClient[Any, Any], core: Core
) -> None:
    token = await login_as(client, "referent")
    bad = NOT_A_CALENDAR
    refused = await _send(client, token, "ics", bad, teacher="prof")
    assert refused.status == 422
    assert "pas un fichier iCalendar" in await refused.text()
    nobody = await _send(client, token, "ics", bad, teacher="personne")
    assert "aucun enseignant de ce nom" in await nobody.text()
    assert not list((core.config.site.data_dir / "imports").glob("attente/*"))
    teacher_token = await login_as(client, "prof")
    sent_away = await _send(client, teacher_token, "sts", bad)
    assert sent_away.url.path != "/imports"

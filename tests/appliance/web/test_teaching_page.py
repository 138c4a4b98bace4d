"""The referent's "Enseignants et classes" page (issue #13 scope 1 and 3): where each
link comes from, and the classes the referent gives, which the teacher then acts on."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.identity.model import Person
from tests.appliance.web.conftest import login_as
from tests.conftest import SCHOOL_UAI


async def test_the_referent_sees_each_source_and_gives_a_teacher_a_class(
    client: TestClient[Any, Any], core: Core
) -> None:
    await core.directory.add_local_person(
        Person("eleve5b", "local", "E", "pupil", SCHOOL_UAI, class_name="5B"), "pupil-password-2"
    )
    await core.directory.replace_links("sts", {"prof": {"6A"}})
    await core.directory.add_local_person(
        Person("sans", "local", "Nouveau Prof", "teacher", SCHOOL_UAI), "teacher-password-3"
    )
    # A teacher may not open it: sent to their own account page.
    await login_as(client, "prof")
    sent_away = await client.get("/enseignants")
    assert sent_away.url.path == "/account"
    assert "Donner des classes" not in await sent_away.text()
    token = await login_as(client, "referent")
    page = await (await client.get("/enseignants")).text()
    assert '6A <span class="meta">(STS-Web)</span>' in page
    assert '6A <span class="meta">(référent)</span>' in page  # the seeded account's own
    assert "1 enseignants n'ont aucune classe" in page
    saved = await client.post(
        "/enseignants",
        data=[("csrf_token", token), ("enseignant", "prof"), ("classe", "6A"),
              ("classe", "5B")],
        allow_redirects=False,
    )  # fmt: skip
    assert saved.status == 303
    assert await core.directory.classes_taught("prof") == ["5B", "6A"]
    refused = await client.post(
        "/enseignants",
        data={"csrf_token": token, "enseignant": "prof", "classe": "6Z"},
        allow_redirects=False,
    )
    assert refused.status == 422
    assert "6Z" in await refused.text()
    entries = [(e["actor"], e["action"], e["target"]) for e in await core.audit.recent(5)]
    assert ("referent", "teaching.set", "prof") in entries
    # The teacher now acts on 5B from their page.
    await login_as(client, "prof")
    internet = await (await client.get("/internet?classe=5B")).text()
    assert "Internet de la classe — 5B" in internet

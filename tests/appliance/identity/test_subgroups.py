"""Virtual groups inside a class: made by its teachers, of its pupils (issue #13 scope 6, #9.9).

Through the API and the page, as a teacher uses them; the rules (a name, the
class's pupils only, one name per class, a teacher of the class only) and
what a pupil leaving the class does to a group.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.identity import subgroups
from appliance.identity.model import Person
from tests.appliance.web.conftest import api_login, client, login_as
from tests.conftest import SCHOOL_UAI

pytestmark = pytest.mark.timeout(60)
__all__ = ["client"]  # the web tests' app client, as a fixture
GROUPS = "/api/v1/classes/6A/groups"


async def _class_of_four(core: Core) -> None:
    """6A: eleve (seeded), voisin, zoe; 5B: autre; prof5b teaches 5B only."""
    for person_id, class_name in (("voisin", "6A"), ("zoe", "6A"), ("autre", "5B")):
        await core.directory.add_local_person(
            Person(person_id, "local", person_id.title(), "pupil", SCHOOL_UAI,
                   class_name=class_name),
            "pupil-password-2",
        )  # fmt: skip
    await core.directory.add_local_person(
        Person("prof5b", "local", "M. Roux", "teacher", SCHOOL_UAI, teaches=("5B",)),
        "teacher-password-2",
    )


async def test_a_teacher_makes_changes_and_deletes_a_group_of_their_class(
    client: TestClient[Any, Any], core: Core
) -> None:
    await _class_of_four(core)
    headers = {"X-CSRF-Token": await api_login(client, "prof")}
    made = await client.post(
        GROUPS, json={"name": "  Groupe   A ", "members": ["eleve", "voisin"]}, headers=headers
    )
    assert made.status == 201, await made.text()
    group = await made.json()
    assert group["name"] == "Groupe A"  # spaces tidied
    assert [m["name"] for m in group["members"]] == ["Jo D.", "Voisin"]
    listed = await (await client.get(GROUPS)).json()
    assert [g["name"] for g in listed["groups"]] == ["Groupe A"]

    refusals = [
        ({"name": "Groupe B", "members": ["autre"]}, "Pas élève de la classe « 6A » : autre."),
        ({"name": "groupe a", "members": ["zoe"]}, "La classe a déjà un groupe « groupe a »."),
        ({"name": "Tiers\u202etemps", "members": ["zoe"]}, "caractère de contrôle"),
        ({"name": "Vide", "members": []}, ""),  # pydantic: at least one pupil
    ]
    for body, words in refusals:
        refused = await client.post(GROUPS, json=body, headers=headers)
        assert refused.status == 422, body
        assert words in (await refused.json())["error"]["message"]

    changed = await client.put(
        f"{GROUPS}/{group['id']}", json={"name": "Îlot 1", "members": ["zoe"]}, headers=headers
    )
    assert changed.status == 200
    assert [m["id"] for m in (await changed.json())["members"]] == ["zoe"]
    gone = await client.delete(f"{GROUPS}/{group['id']}", headers=headers)
    assert gone.status == 200
    assert (await (await client.get(GROUPS)).json())["groups"] == []
    actions = [(e["actor"], e["action"]) for e in await core.audit.recent(10)]
    assert ("prof", "subgroup.save") in actions
    assert ("prof", "subgroup.delete") in actions


async def test_a_teacher_of_another_class_is_refused_every_route(
    client: TestClient[Any, Any], core: Core
) -> None:
    await _class_of_four(core)
    group = await subgroups.save(core, "6A", "Groupe A", ["eleve"], actor="prof")
    headers = {"X-CSRF-Token": await api_login(client, "prof5b", "teacher-password-2")}
    body = {"name": "Intrus", "members": ["eleve"]}
    answers = [
        await client.get(GROUPS),
        await client.post(GROUPS, json=body, headers=headers),
        await client.put(f"{GROUPS}/{group.id}", json=body, headers=headers),
        await client.delete(f"{GROUPS}/{group.id}", headers=headers),
    ]
    assert [a.status for a in answers] == [403, 403, 403, 403]
    # Its own class's routes work; a group of 6A is not found under 5B.
    assert (await client.get("/api/v1/classes/5B/groups")).status == 200
    under_5b = await client.delete(f"/api/v1/classes/5B/groups/{group.id}", headers=headers)
    assert under_5b.status == 404
    assert (await client.get("/api/v1/classes/6Z/groups")).status == 404
    # A pupil has no say at all.
    await client.delete("/api/v1/session")
    await api_login(client, "eleve")
    assert (await client.get(GROUPS)).status == 403
    assert await subgroups.members(core, [group.id]) == {group.id: frozenset({"eleve"})}


async def test_a_pupil_who_leaves_the_class_leaves_its_groups(core: Core) -> None:
    await _class_of_four(core)
    await core.directory.add_local_person(
        Person("eleve", "local", "Jo D.", "pupil", SCHOOL_UAI, class_name="6A"),
        "pupil-password-1",
    )
    group = await subgroups.save(core, "6A", "Groupe A", ["eleve", "voisin"], actor="prof")
    assert (await subgroups.members(core, [group.id]))[group.id] == {"eleve", "voisin"}
    # voisin moves to 5B: no longer in a group of 6A, whatever the table holds.
    await core.directory.add_local_person(
        Person("voisin", "local", "Voisin", "pupil", SCHOOL_UAI, class_name="5B"),
        "pupil-password-2",
    )
    assert (await subgroups.members(core, [group.id]))[group.id] == {"eleve"}
    assert [g.name for g in await subgroups.groups_of_pupil(core, "voisin")] == []
    assert [g.name for g in await subgroups.groups_of_pupil(core, "eleve")] == ["Groupe A"]
    # A group that no longer exists has no pupils.
    await subgroups.delete(core, group.id)
    assert await subgroups.members(core, [group.id]) == {group.id: frozenset()}


async def test_the_page_makes_a_group_from_ticked_pupils(
    client: TestClient[Any, Any], core: Core
) -> None:
    await _class_of_four(core)
    token = await login_as(client, "prof")
    page = await (await client.get("/classe/groupes")).text()
    assert "Groupes de la classe — 6A" in page
    assert "Aucun groupe pour l'instant." in page
    made = await client.post(
        "/classe/groupes",
        data=[("csrf_token", token), ("classe", "6A"), ("action", "save"), ("nom", "Groupe A"),
              ("eleve", "eleve"), ("eleve", "zoe")],
    )  # fmt: skip
    page = await made.text()
    assert made.status == 200
    assert "Groupe enregistré." in page
    assert "Jo D., Zoe" in page
    empty = await client.post(
        "/classe/groupes",
        data={"csrf_token": token, "classe": "6A", "action": "save", "nom": "Groupe B"},
    )
    assert empty.status == 422
    assert "Choisissez au moins un élève." in await empty.text()
    foreign = await client.post(
        "/classe/groupes",
        data={"csrf_token": token, "classe": "5B", "action": "save", "nom": "X", "eleve": "autre"},
    )
    assert foreign.status == 403
    (_group,) = await subgroups.of_class(core, "6A")
    internet = await (await client.get("/internet?classe=6A")).text()
    assert "Groupe A (2 élèves)" in internet  # a target of the teacher's taps

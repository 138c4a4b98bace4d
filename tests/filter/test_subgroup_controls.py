"""Controls on a virtual group of a class (issue #13 scope 6; CARMO #9.9, #9.2).

A teacher of the class cuts one group's internet from the API or the page's
"Pour" choice; a teacher of another class cannot; the filter's engine then
answers the group's logged-in pupils, not the rest of the class; deleting the
group lifts its control; the portal's gate is told which pupils are cut.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from dnslib import DNSRecord

from appliance.identity import subgroups
from appliance.identity.model import Person
from appliance.web.app import create_app
from filter import state as filtering
from filter import wire
from filter.class_blocks import blocked_people
from filter.engine import Forward
from filter.service import build_engine
from tests.appliance.web.conftest import ClientFactory, api_login, login_as, seed_local_people
from tests.conftest import SCHOOL_UAI, make_config, opened_core
from tests.filter.test_engine import query


async def test_a_teacher_cuts_one_group_of_their_class_and_nobody_else(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    config = make_config(tmp_path / "data")
    async with opened_core(config) as core:
        await seed_local_people(core)
        for person_id, class_name in (("voisin", "6A"), ("autre", "5B")):
            await core.directory.add_local_person(
                Person(person_id, "local", person_id, "pupil", SCHOOL_UAI,
                       class_name=class_name),
                "pupil-password-2",
            )  # fmt: skip
        await core.directory.add_local_person(
            Person("prof5b", "local", "M. Roux", "teacher", SCHOOL_UAI, teaches=("5B",)),
            "teacher-password-2",
        )
        group = await subgroups.save(core, "6A", "Groupe A", ["eleve"], actor="prof")
        client: TestClient[Any, Any] = await aiohttp_client(create_app(core))

        def cut(target: str, kind: str = "subgroup") -> dict[str, Any]:
            return {"target_kind": kind, "target": target, "action": "block_all", "minutes": 30}

        headers = {"X-CSRF-Token": await api_login(client, "prof5b", "teacher-password-2")}
        foreign = await client.post("/api/v1/filter/overrides", json=cut(str(group.id)),
                                    headers=headers)  # fmt: skip
        assert foreign.status == 403
        assert "6A" in (await foreign.json())["error"]["message"]
        await client.delete("/api/v1/session")
        headers = {"X-CSRF-Token": await api_login(client, "prof")}
        missing = await client.post("/api/v1/filter/overrides", json=cut("999"), headers=headers)
        assert missing.status == 422
        made = await client.post(
            "/api/v1/filter/overrides", json=cut(str(group.id)), headers=headers
        )
        assert made.status == 201, await made.text()
        control_id = (await made.json())["id"]

        # The network: the group's pupil is cut, the rest of the class is not.
        now = time.time()
        async with core.db.write() as tx:
            await tx.executemany(
                "INSERT INTO network_clients (address, person_id, role, class_name, level,"
                " expires_at, since) VALUES (?, ?, 'pupil', '6A', '6EME', ?, ?)",
                [("10.1.1.1", "eleve", now + 600, now), ("10.1.1.2", "voisin", now + 600, now)],
            )
        engine = await build_engine(core)
        (targeted,) = engine.overrides
        assert targeted.kind == "subgroup"
        assert targeted.people == frozenset({"eleve"})
        cut_answer = engine.handle(query("www.example.test"), "10.1.1.1", now)
        assert isinstance(cut_answer, bytes)
        assert DNSRecord.parse(cut_answer).header.rcode == wire.RCODE_NXDOMAIN
        assert isinstance(engine.handle(query("www.example.test"), "10.1.1.2", now), Forward)
        assert set(await blocked_people(core, now)) == {"eleve"}

        # A teacher may end a teacher's control on their class's group; the page shows it.
        page = await (await client.get("/internet?classe=6A")).text()
        assert "groupe Groupe A" in page
        ended = await client.delete(f"/api/v1/filter/overrides/{control_id}", headers=headers)
        assert ended.status == 200

        # The page's "Pour": a tap on the group; deleting the group lifts it for everyone.
        await client.delete("/api/v1/session")
        token = await login_as(client, "prof")
        tapped = await client.post(
            "/internet",
            data={"csrf_token": token, "classe": "6A", "action": "cut", "pour": str(group.id)},
            allow_redirects=False,
        )
        assert tapped.status == 303
        (row,) = await filtering.active_overrides(core)
        assert (row.target_kind, row.target) == ("subgroup", str(group.id))
        other = await client.post(
            "/internet",
            data={"csrf_token": token, "classe": "6A", "action": "cut", "pour": "999"},
            allow_redirects=False,
        )
        assert other.status == 400
        await subgroups.delete(core, group.id)
        assert await blocked_people(core, time.time()) == {}
        engine = await build_engine(core)
        assert engine.overrides[0].people == frozenset()

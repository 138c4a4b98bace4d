"""The demo shows itself (#16 scope 3): apps, files, a class at work, a timetable, history.

A real ``preau demo`` on a fresh data folder, then the pages each role opens
first: nothing a newcomer sees is empty.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from appliance.web.app import create_app
from tests.appliance.web.conftest import ClientFactory, api_login
from tests.conftest import make_config, opened_core, run_preau, write_config


async def test_the_demo_school_has_apps_files_a_class_at_work_and_a_timetable(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    config = make_config(tmp_path / "data")
    path = write_config(config, tmp_path / "preau.toml")
    seeded = run_preau("demo", config_path=path)
    assert seeded.returncode == 0, seeded.stderr
    passwords = dict(re.findall(r"^(\S+)\s+\S+\s+\S+\s+(\S+-\S+-\S+)$", seeded.stdout, re.M))
    async with opened_core(config) as core:
        client: TestClient[Any, Any] = await aiohttp_client(create_app(core))
        lessons = await core.db.fetchall(
            "SELECT person_id, COUNT(*) AS n FROM timetable GROUP BY person_id"
        )
        assert {row["person_id"] for row in lessons} == {
            "prof.durand", "prof.nguyen", "prof.benali"
        }  # fmt: skip
        await api_login(client, "referent", passwords["referent"])
        apps = await (await client.get("/applis/gestion")).text()
        assert "Cahier de textes (démo)" in apps
        assert "Guide du collégien (démo)" in apps
        await api_login(client, "prof.durand", passwords["prof.durand"])
        page = await (await client.get("/classe", params={"classe": "6A"})).text()
        assert "Consignes - exposé sur le Moyen Âge.txt" in page
        assert "Exposé sur le Moyen Âge" in page
        handed = await core.db.fetchall("SELECT 1 FROM assignments WHERE class_name = '6A'")
        assert len(handed) == 1
        await api_login(client, "l.bernard", passwords["l.bernard"])
        files = await (await client.get("/fichiers", params={"dossier": "Histoire"})).text()
        assert "Exposé sur les châteaux forts.txt" in files
        store = await (await client.get("/applis")).text()
        assert "Cahier de textes (démo)" in store  # assigned to 6A
        assert "Géométrie (démo)" not in store  # the teachers' only

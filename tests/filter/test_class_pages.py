"""The teacher's one-tap page from the server's side (issue #13 scope 3 and 4; CARMO #9.2,
#9.6): each tap makes the control the API would, on the teacher's own class only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from appliance.web.app import create_app
from filter import state as filtering
from tests.appliance.web.conftest import ClientFactory, api_login, login_as, seed_local_people
from tests.conftest import make_config, opened_core


async def test_each_tap_makes_its_control_on_the_teachers_class_only(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    config = make_config(
        tmp_path / "data", filter={"allowlists": {"Évaluation": ["ent.example.fr"]}}
    )
    async with opened_core(config) as core:
        await seed_local_people(core)
        client: TestClient[Any, Any] = await aiohttp_client(create_app(core))
        token = await login_as(client, "prof")

        async def tap(action: str, classe: str = "6A", **extra: str) -> Any:
            data = {"csrf_token": token, "classe": classe, "action": action, **extra}
            return await client.post("/internet", data=data, allow_redirects=False)

        page = await client.get("/internet")
        text = await page.text()
        assert "Couper Internet" in text
        assert "Liste autorisée : Évaluation" in text
        answer = await tap("block_sites", sites="jeu.example.fr, autre.example.fr")
        assert answer.status == 303
        answer = await tap("allowlist:Évaluation")
        assert answer.status == 303
        controls = {(o.action, o.target, o.domains) for o in await filtering.active_overrides(core)}
        assert controls == {
            ("block_domains", "6A", ("jeu.example.fr", "autre.example.fr")),
            ("allowlist_only", "6A", ("ent.example.fr",)),
        }
        assert (await tap("cut", classe="5B")).status == 403  # not this teacher's class
        assert (await tap("allowlist:Récré")).status == 400  # no such allow-list
        assert (await tap("restore")).status == 303
        assert await filtering.active_overrides(core) == []
        entries = [(e["actor"], e["action"]) for e in await core.audit.recent(10)]
        assert ("prof", "filter.override.end") in entries


async def test_one_controller_per_class_with_a_visible_take_over(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    """Issue #13 scope 4: a second teacher's tap takes over; the referent's control stays."""
    from appliance.identity.model import Person
    from tests.conftest import SCHOOL_UAI

    async with opened_core(make_config(tmp_path / "data")) as core:
        await seed_local_people(core)
        await core.directory.add_local_person(
            Person("prof2", "local", "Marc Roux", "teacher", SCHOOL_UAI, teaches=("6A",)),
            "teacher-password-2",
        )
        client: TestClient[Any, Any] = await aiohttp_client(create_app(core))
        await filtering.add_override(
            core, target_kind="class", target="6A", action="block_domains", seconds=600,
            domains=["jeu.example.fr"], actor="referent", source="test",
        )  # fmt: skip
        token = await login_as(client, "prof")
        data = {"csrf_token": token, "classe": "6A", "action": "cut"}
        assert (await client.post("/internet", data=data, allow_redirects=False)).status == 303
        token = await login_as(client, "prof2", "teacher-password-2")
        page = await (await client.get("/internet")).text()
        assert "par Sophie Durand" in page  # who holds the class, before taking it over
        assert "reprend la main" in page
        data = {"csrf_token": token, "classe": "6A", "action": "cut"}
        assert (await client.post("/internet", data=data, allow_redirects=False)).status == 303
        held = {(o.created_by, o.action) for o in await filtering.active_overrides(core)}
        assert held == {("referent", "block_domains"), ("prof2", "block_all")}
        entries = [(e["actor"], e["action"]) for e in await core.audit.recent(10)]
        assert ("prof2", "filter.override.takeover") in entries


async def test_the_page_shows_who_of_the_class_is_connected_and_nothing_else(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    """Issue #13 scope 5 (CARMO #9.7, #9.18): connected or not, since when; no activity."""
    import time

    from appliance.identity.model import Person
    from tests.conftest import SCHOOL_UAI

    async with opened_core(make_config(tmp_path / "data")) as core:
        await seed_local_people(core)
        for person_id, name, class_name in (("absent", "Zoé A.", "6A"), ("voisin", "V", "5B")):
            await core.directory.add_local_person(
                Person(person_id, "local", name, "pupil", SCHOOL_UAI, class_name=class_name),
                "pupil-password-2",
            )
        now = time.time()
        since = now - 1800
        async with core.db.write() as tx:  # what the captive portal writes at login
            await tx.executemany(
                "INSERT INTO network_clients (address, person_id, role, class_name, level,"
                " expires_at, since) VALUES (?, ?, 'pupil', ?, '', ?, ?)",
                [
                    ("10.0.0.11", "eleve", "6A", now + 3600, since),
                    ("10.0.0.12", "eleve", "6A", now + 3600, now - 60),
                    ("10.0.0.13", "absent", "6A", now - 10, since),  # its session ended
                    ("10.0.0.14", "voisin", "5B", now + 3600, since),
                ],
            )
        client: TestClient[Any, Any] = await aiohttp_client(create_app(core))
        await login_as(client, "prof")
        page = await (await client.get("/internet")).text()
        clock = dt.datetime.fromtimestamp(since, core.config.site.zone).strftime("%H:%M")
        assert "1 élèves sur 2 connectés au Wi-Fi" in page
        assert f"Jo D. — connecté depuis {clock} (2 appareil(s))" in page
        assert 'Zoé A. — <span class="meta">hors ligne</span>' in page
        assert "10.0.0." not in page  # no address
        assert "V —" not in page  # another class's pupil


async def test_the_page_shows_the_class_cart_as_the_network_sees_it(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    """Issue #13 scope 5 (CARMO #9.7, #9.18): the cart assigned to 6A, online or not,
    from the DHCP inventory; names only, never an address or what a device does."""
    import time

    import pytest

    from appliance.config import ConfigError, load_config

    cart = {
        "name": "Chariot 1",
        "classes": ["6A", "5B"],
        "macs": ["02:00:00:00:00:01", "02-00-00-00-00-02"],
        "hostname_prefix": "CH1-",
    }
    config = make_config(tmp_path / "data", portal={"carts": [cart]})
    now = time.time()
    async with opened_core(config) as core:
        await seed_local_people(core)
        async with core.db.write() as tx:
            await tx.executemany(
                "INSERT INTO portal_dhcp_devices (mac, ip, hostname, first_seen, last_seen)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    ("02:00:00:00:00:01", "10.77.0.101", "CH1-01", now - 7200, now - 60),
                    ("02:00:00:00:00:03", "10.77.0.103", "CH1-03", now - 9e5, now - 8e5),
                    ("02:00:00:00:00:09", "10.77.0.109", "autre", now - 60, now - 60),
                ],
            )
        client: TestClient[Any, Any] = await aiohttp_client(create_app(core))
        # An MDM reports a cart tablet's battery; a device that is no cart's is refused.
        headers = {"X-CSRF-Token": await api_login(client, "referent")}
        kept = await client.put(
            "/api/v1/portal/carts/devices/02-00-00-00-00-01", json={"battery": 15},
            headers=headers,
        )  # fmt: skip
        assert kept.status == 200, await kept.text()
        refused = await client.put(
            "/api/v1/portal/carts/devices/02:00:00:00:00:09", json={"battery": 80},
            headers=headers,
        )  # fmt: skip
        assert refused.status == 422
        await client.delete("/api/v1/session")
        await login_as(client, "prof")
        page = await (await client.get("/internet?classe=6A")).text()
    assert "Chariot 1" in page
    assert '<span class="alert">batterie 15 %</span>' in page
    assert "1 appareils sur 3 en ligne" in page  # CH1-01 now; CH1-03 long ago; n° 2 never
    assert "CH1-01 — en ligne" in page
    assert 'CH1-03 — <span class="meta">hors ligne' in page
    assert "jamais vu sur le réseau" in page
    assert "autre" not in page  # neither listed nor prefixed: not the cart's
    assert "02:00:00" not in page
    assert "10.77.0." not in page
    # A cart's MAC address is checked where it is written, and the key is named.
    bad = tmp_path / "bad.toml"
    bad.write_text('[[portal.carts]]\nname = "X"\nmacs = ["zz"]\n')
    with pytest.raises(ConfigError, match=r"portal\.carts\.0\.macs"):
        load_config(bad)

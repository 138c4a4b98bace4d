"""The demo's invented list: blocking and explaining work offline from the first minute (#16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from appliance.core import Core
from filter.demo import DEMO_LIST, DEMO_NAMES, demo_list_tree, load_demo_list
from filter.service import explain
from tests.appliance.web.conftest import client, login_as
from tests.conftest import make_config, run_preau, write_config

__all__ = ["client"]  # the web tests' app client, as a fixture here


def test_every_demo_name_is_invented_under_the_reserved_test_domain(tmp_path: Path) -> None:
    """RFC 2606: no real site is named by the demo."""
    count = demo_list_tree(tmp_path)
    lines = [line for f in tmp_path.glob("*/domains") for line in f.read_text().splitlines()]
    assert len(lines) == count == sum(len(names) for names in DEMO_NAMES.values())
    assert all(line.endswith(".demo.test") for line in lines)
    assert {f.parent.name for f in tmp_path.glob("*/domains")} == set(DEMO_NAMES)


async def test_the_demo_list_is_loaded_like_ut1_and_blocks_by_category(core: Core) -> None:
    assert await load_demo_list(core) == sum(len(names) for names in DEMO_NAMES.values())
    rows = await core.db.fetchall("SELECT name, format, domains FROM filter_lists")
    assert [(r["name"], r["format"]) for r in rows] == [(DEMO_LIST, "ut1")]
    adult = await explain(core, "contenus-adultes.demo.test", group="college")
    assert adult.decision.blocked
    assert adult.decision.category == "adult"
    assert adult.decision.list_name == DEMO_LIST
    # Games are allowed for a collège's pupils by default, refused for the école's.
    games = "jeux-en-ligne.demo.test"
    assert not (await explain(core, games, group="college")).decision.blocked
    assert (await explain(core, games, group="ecole")).decision.blocked


def test_explaining_an_allowed_site_says_when_no_list_is_loaded(tmp_path: Path) -> None:
    path = write_config(make_config(tmp_path / "data"), tmp_path / "preau.toml")
    assert run_preau("state", "migrate", config_path=path).returncode == 0
    result = run_preau(
        "filter", "explain", "contenus-adultes.example", "--group", "college", config_path=path
    )
    assert result.returncode == 0, result.stderr
    assert "AUTORISÉ" in result.stdout
    assert "Aucune liste n'est chargée" in result.stderr


async def test_the_page_says_when_no_list_is_loaded(
    core: Core, client: TestClient[Any, Any]
) -> None:
    await login_as(client, "referent")
    params = {"domain": "contenus-adultes.demo.test", "group": "college"}
    page = await (await client.get("/filtering", params=params)).text()
    assert 'id="explain-no-list"' in page
    await load_demo_list(core)
    page = await (await client.get("/filtering", params=params)).text()
    assert 'id="explain-no-list"' not in page
    assert "Bloqué" in page

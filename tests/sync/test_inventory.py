"""The box in GLPI's inventory, checked against GLPI's own published schema (#14).

The collectivité's inventory (GLPI) reads the box without an adapter: the
JSON validates against ``inventory.schema.json`` from glpi-project (vendored in
``tests/fixtures/glpi``), every key it uses is one the schema names, and it
describes the box only.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema
from aiohttp import web
from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.scheduler.jobs import run_job
from sync.inventory import glpi_inventory
from sync.jobs import INVENTORY_JOB, sync_jobs
from sync.state import LinkState, write_link
from tests.appliance.web.conftest import client, login_as
from tests.conftest import make_config, opened_core, run_preau, write_config
from tests.sync.conftest import FORBIDDEN

__all__ = ["client"]

SCHEMA_PATH = Path(__file__).parents[1] / "fixtures" / "glpi" / "inventory.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())


def undeclared(value: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Return the keys of ``value`` the schema does not name (it allows extra ones)."""
    if "$ref" in schema:
        schema = SCHEMA["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    if isinstance(value, dict):
        known = schema.get("properties", {})
        found = [f"{where}.{key}" for key in value if key not in known]
        for key, item in value.items():
            if key in known:
                found += undeclared(item, known[key], f"{where}.{key}")
        return found
    if isinstance(value, list):
        return [bad for item in value for bad in undeclared(item, schema.get("items", {}), where)]
    return []


def check(inventory: dict[str, Any]) -> None:
    """Validate against GLPI's schema, strictly about names."""
    jsonschema.validate(inventory, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert undeclared(inventory, SCHEMA) == []
    text = json.dumps(inventory)
    assert not FORBIDDEN.search(text), FORBIDDEN.search(text)


def test_the_inventory_validates_against_glpi_s_schema(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    inventory = glpi_inventory(config, "0000000X-1a2b3c4d")
    check(inventory)
    assert inventory["deviceid"] == "0000000X-1a2b3c4d"
    assert inventory["itemtype"] == "Computer"
    content = inventory["content"]
    assert content["softwares"][0]["name"] == "preau"
    assert content["hardware"]["memory"] > 0
    mounts = [drive["type"] for drive in content["drives"]]
    assert len(mounts) == len({drive["volumn"] for drive in content["drives"]})


async def test_the_api_and_the_cli_give_it_to_the_referent_only(
    client: TestClient[Any, Any], core: Core, tmp_path: Path
) -> None:
    await login_as(client, "prof")
    assert (await client.get("/api/v1/sync/glpi-inventory")).status == 403
    await login_as(client, "referent")
    answer = await client.get("/api/v1/sync/glpi-inventory")
    assert answer.status == 200
    check(await answer.json())
    path = write_config(core.config, tmp_path / "box.toml")
    printed = run_preau("sync", "inventory", config_path=path)
    assert printed.returncode == 0, printed.stderr
    check(json.loads(printed.stdout))


async def test_the_nightly_job_sends_the_inventory_as_a_glpi_agent_does(
    tmp_path: Path, aiohttp_server: Any
) -> None:
    """GLPI's endpoint, as its own tests describe it: a GLPI-Agent-ID, JSON, « ok » or 400."""
    received: list[tuple[dict[str, str], Any]] = []
    refuse = {"now": False}

    async def inventory_php(request: web.Request) -> web.Response:
        body = await request.read()
        received.append((dict(request.headers), json.loads(body)))
        if refuse["now"]:
            answer = {"status": "error", "message": "Unable to load inventory", "expiration": 24}
            return web.json_response(answer, status=400)
        return web.json_response({"status": "ok", "expiration": 24})

    app = web.Application()
    app.router.add_post("/front/inventory.php", inventory_php)
    glpi = await aiohttp_server(app)
    url = f"http://127.0.0.1:{glpi.port}/front/inventory.php"
    async with opened_core(make_config(tmp_path / "off")) as core:
        assert INVENTORY_JOB not in [job.id for job in sync_jobs(core)]  # no GLPI named
    config = make_config(tmp_path / "data", sync={"inventory_url": url})
    async with opened_core(config) as core:
        await write_link(core.db, LinkState(box_id="0750001A-1a2b3c4d", uai="0750001A"))
        [job] = [j for j in sync_jobs(core) if j.id == INVENTORY_JOB]
        assert await run_job(core, job)
        refuse["now"] = True
        assert not await run_job(core, job)  # GLPI's refusal is the job's failure
        row = await core.db.fetchone(
            "SELECT last_error FROM job_runs WHERE job_id = ?", (INVENTORY_JOB,)
        )
    assert "Unable to load inventory" in row["last_error"]
    (headers, first), (_, second) = received
    assert headers["Content-Type"] == "application/json"
    check(first)
    assert first["deviceid"] == "0750001A-1a2b3c4d"
    # The same agent id every night: GLPI updates one computer, never adds a second.
    assert headers["GLPI-Agent-ID"] == str(uuid.UUID(headers["GLPI-Agent-ID"]))
    assert second["deviceid"] == first["deviceid"]
    assert received[1][0]["GLPI-Agent-ID"] == headers["GLPI-Agent-ID"]

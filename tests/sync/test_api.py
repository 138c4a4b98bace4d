"""The link in the referent's API and page, and what leaves the box: never a pupil.

The privacy check feeds the box's figures with what a careless feature might
publish (a pupil's login, a device's MAC and address as labels) and with the
school's real accounts, then reads every shape the centre can get (the JSON
site report, OpenMetrics, remote_write, the CLI): none carries them (CARMO
table 9, ground rule 6).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient

from appliance.config import PreauConfig
from appliance.core import Core
from sync.report import SiteReport
from sync.telemetry import read_remote_write, remote_write_body
from tests.appliance.web.conftest import api_login, client, login_as
from tests.conftest import make_config, run_preau, write_config
from tests.sync.conftest import FORBIDDEN

__all__ = ["client"]

SCRAPE_TOKEN = "jeton-de-collecte"


@pytest.fixture
def config(tmp_path: Path) -> PreauConfig:
    """Return a box that lets the central Prometheus scrape it."""
    digest = hashlib.sha256(SCRAPE_TOKEN.encode()).hexdigest()
    return make_config(tmp_path / "data", sync={"telemetry": {"scrape_bearer_sha256": digest}})


async def careless_figures(core: Core) -> None:
    """Publish figures with personal labels, as a faulty feature might."""
    now = time.time()
    rows = [
        ("portal", "preau_portal_sessions", 'user="eleve",mac="02:00:00:00:00:07"', 3.0),
        ("portal", "preau_portal_devices", 'ip="10.20.0.7"', 40.0),
        (
            "filter",
            "preau_filter_blocked_total",
            'group="college",category="adult",client="10.20.0.7"',
            5.0,
        ),
        ("filter", "preau_filter_blocked_total", 'group="Jo D.",category="adult"', 2.0),
        ("storage", "preau_storage_person_bytes", 'person="prof"', 1e6),
    ]
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT INTO service_metrics (service, name, labels, value, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(*row, now) for row in rows],
        )


async def test_nothing_the_centre_can_read_names_a_person_or_a_device(
    client: TestClient[Any, Any], core: Core, tmp_path: Path
) -> None:
    await careless_figures(core)
    await api_login(client, "referent")
    shown = await client.get("/api/v1/sync/report")
    assert shown.status == 200
    report_text = await shown.text()
    report = json.loads(report_text)
    # It validates against the schema the API publishes.
    schema = await (await client.get("/api/v1/sync/report-schema")).json()
    jsonschema.validate(report, schema)
    scraped = await client.get(
        "/api/v1/sync/openmetrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}
    )
    assert scraped.status == 200
    metrics_text = await scraped.text()
    pushed = json.dumps(read_remote_write(remote_write_body([SiteReport.model_validate(report)])))
    config_path = write_config(core.config, tmp_path / "box.toml")
    cli = run_preau("sync", "report", config_path=config_path)
    assert cli.returncode == 0, cli.stderr
    rows = await core.db.fetchall("SELECT id, display_name FROM people")
    people = [row["id"] for row in rows] + [row["display_name"] for row in rows]
    assert {"eleve", "prof", "referent", "Jo D."} <= set(people)
    for shape in (report_text, metrics_text, pushed, cli.stdout):
        assert not FORBIDDEN.search(shape), FORBIDDEN.search(shape)
        for name in people:
            assert f'"{name}"' not in shape, name
            assert f"={name}" not in shape, name
    # Counts under 5 are suppressed; the group figure survives without its client.
    figures = {
        (f["name"], json.dumps(f["labels"], sort_keys=True)): f["value"] for f in report["figures"]
    }
    assert figures[("preau_portal_sessions", "{}")] is None
    assert figures[("preau_portal_devices", "{}")] == 40
    assert figures[("preau_filter_blocked_total", '{"category": "adult", "group": "college"}')] == 5


async def test_the_referent_enrols_from_the_page_and_others_cannot(
    client: TestClient[Any, Any],
) -> None:
    token = await login_as(client, "prof")
    refused_page = await client.get("/synchro", allow_redirects=False)
    assert refused_page.status == 303
    assert refused_page.headers["Location"] == "/account"
    refused = await client.post(
        "/api/v1/sync/enrol", json={"token": "x"}, headers={"X-CSRF-Token": token}
    )
    assert refused.status == 403
    token = await login_as(client, "referent")
    dashboard = await (await client.get("/dashboard")).text()
    assert "Lien avec le centre" in dashboard
    assert "inscrit auprès d'aucun centre" in dashboard.replace("&#39;", "'")
    page = await client.get("/synchro")
    assert page.status == 200
    text = await page.text()
    assert "Inscrire ce boîtier" in text
    assert "Jeton d'inscription" in text
    # A pasted text that is not a token: said in French, nothing enrolled.
    answer = await client.post(
        "/api/v1/sync/enrol", json={"token": "bonjour"}, headers={"X-CSRF-Token": token}
    )
    assert answer.status == 422
    assert "pas un jeton" in (await answer.json())["error"]["message"]
    form = await client.post(
        "/synchro/inscrire", data={"token": "bonjour", "csrf_token": token}, allow_redirects=True
    )
    assert "pas un jeton" in await form.text()
    link = await (await client.get("/api/v1/sync/link")).json()
    assert link["enrolled"] is False
    # Asking to check a link that does not exist says so.
    check = await client.post("/api/v1/sync/check", headers={"X-CSRF-Token": token})
    assert check.status == 409
    # In English too.
    english = await client.post(
        "/api/v1/sync/enrol?lang=en", json={"token": "bonjour"}, headers={"X-CSRF-Token": token}
    )
    assert "not a Préau enrolment token" in (await english.json())["error"]["message"]

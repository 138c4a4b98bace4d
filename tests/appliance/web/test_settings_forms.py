"""Settings a referent changes in a school year, from the page (#16 scope 8).

Each form's values are validated with the whole config, as a config file
is, kept in the settings file, audited, and loaded by the next start: a
fresh ``load_config`` of the box's file shows them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from appliance.config import load_config
from appliance.site_settings import settings_path
from appliance.web.app import create_app
from filter.config import FilterConfig
from storage.config import ProductionsConfig
from tests.appliance.web.conftest import ClientFactory, api_login, seed_local_people
from tests.conftest import make_config, opened_core, write_config


async def token_of(client: TestClient[Any, Any]) -> str:
    match = re.search(
        r'name="csrf_token" value="([^"]+)"', await (await client.get("/settings")).text()
    )
    assert match is not None
    return match.group(1)


async def test_the_years_settings_are_checked_kept_and_loaded_next_start(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    config = make_config(tmp_path / "data")
    path = write_config(config, tmp_path / "preau.toml")
    async with opened_core(config) as core:
        await seed_local_people(core)
        client = await aiohttp_client(create_app(core))
        await api_login(client, "referent")
        page = await (await client.get("/settings")).text()
        for key in ("maintenance", "filtrage", "listes-autorisees", "quotas"):
            assert f'action="/settings/{key}"' in page, key
        assert "Calendrier et maintenance" in page  # the effective view, section by section
        token = await token_of(client)
        stored = settings_path(config.site.data_dir)

        bad = await client.post(
            "/settings/maintenance",
            data={"csrf_token": token, "nightly": "25:00-26:00", "weekly": "02:00-06:00"},
        )
        assert bad.status == 400
        assert "scheduler.nightly.hours" in await bad.text()
        assert not stored.exists()  # nothing kept
        good = await client.post(
            "/settings/maintenance",
            data={"csrf_token": token, "nightly": "00:30-04:30", "weekly": "03:00-05:00",
                  "weekly_days": ["sat", "sun"]},
            allow_redirects=False,
        )  # fmt: skip
        assert good.status == 303

        quota = {"csrf_token": token}
        for role in ("pupil", "teacher", "staff", "referent"):
            quota |= {f"{role}-pedagogical": "800", f"{role}-personnel": "400"}
        wrong = await client.post("/settings/quotas", data=quota | {"pupil-personnel": "beaucoup"})
        assert wrong.status == 400
        assert "productions.quotas.pupil.personnel_mb" in await wrong.text()
        assert (
            await client.post("/settings/quotas", data=quota, allow_redirects=False)
        ).status == 303

        policy: dict[str, Any] = {"csrf_token": token}
        for group in core.config.section(FilterConfig).groups:
            policy[f"deny-{group.name}"] = list(group.denied_categories)
            policy[f"safe-{group.name}-youtube"] = group.safesearch.youtube
            for engine in ("google", "bing", "duckduckgo", "brave"):
                policy[f"safe-{group.name}-{engine}"] = "1"
        policy["deny-college"] = ["adult", "gambling", "not-a-category"]
        policy["safe-college-youtube"] = "strict"
        del policy["safe-college-bing"]
        saved = await client.post("/settings/filtrage", data=policy, allow_redirects=False)
        assert saved.status == 303

        scenes = {"csrf_token": token, "new_name": "pix", "new_domains": "pix.fr app.pix.fr"}
        refused = await client.post(
            "/settings/listes-autorisees", data=scenes | {"new_domains": "pas un domaine!"}
        )
        assert refused.status == 400
        done = await client.post("/settings/listes-autorisees", data=scenes, allow_redirects=False)
        assert done.status == 303
        actions = [e["action"] for e in await core.audit.recent(5)]
        assert actions.count("settings.change") == 4

    kept = json.loads(stored.read_text())
    assert kept["scheduler"]["nightly"]["hours"] == "00:30-04:30"
    loaded = load_config(path)
    assert loaded.scheduler.weekly.days == ["sat", "sun"]
    assert loaded.section(ProductionsConfig).quotas["pupil"].personnel_mb == 400
    college = next(g for g in loaded.section(FilterConfig).groups if g.name == "college")
    assert college.denied_categories == ["adult", "gambling"]
    assert college.safesearch.youtube == "strict"
    assert college.safesearch.bing is False
    assert college.safesearch.google is True
    assert loaded.section(FilterConfig).allowlists["pix"] == ["pix.fr", "app.pix.fr"]
    # Every group is still there, with what the form does not show.
    assert len(loaded.section(FilterConfig).groups) == len(config.section(FilterConfig).groups)

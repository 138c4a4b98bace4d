"""The referent sees what the update cache saved (issue #6 scope 8; CARMO #6.2)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.published import publish_metrics
from cache import state as cache_admin
from tests.appliance.web.conftest import api_login


async def test_cache_page_shows_saved_bytes_per_day_class_and_object(
    client: TestClient[Any, Any], core: Core
) -> None:
    windows = cache_admin.TrafficDelta(
        "windows", served_bytes=30 * 10**9, fetched_bytes=10**9, hits=29, misses=1
    )
    linux = cache_admin.TrafficDelta(
        "linux", served_bytes=2 * 10**6, fetched_bytes=2 * 10**6, misses=4
    )
    await cache_admin.add_traffic(core, [windows, linux])
    await cache_admin.add_traffic(core, [cache_admin.TrafficDelta("windows", hits=1)])
    await cache_admin.replace_objects(
        core,
        [
            cache_admin.ObjectFigures(
                "ab" * 32, "http://windows/feature<update>.esd", "windows", 10**9, 10**9,
                29 * 10**9, 1.0, "nuit",
            )
        ],
    )  # fmt: skip
    classes = await cache_admin.traffic_by_class(core)
    assert [(c["content_class"], c["hits"]) for c in classes] == [("windows", 30), ("linux", 0)]
    assert round(classes[0]["hit_ratio"], 3) == 0.967
    days = await cache_admin.traffic_by_day(core)
    assert len(days) == 30
    assert days[-1]["saved"] == 29_000_000_000

    await api_login(client, "referent")
    page = await (await client.get("/cache")).text()
    assert "Cache des mises à jour" in page
    assert "30,0 Go" in page  # served
    assert "29,0 Go" in page  # saved
    assert "97 %" in page
    assert "feature&lt;update&gt;.esd" in page  # escaped
    assert "préchargé" in page
    assert 'role="img"' in page
    assert 'aria-labelledby="chart-caption"' in page
    assert "http://127.0.0.1:3142/proxy.pac" in page
    # Only the referent.
    await client.post("/logout")
    await api_login(client, "prof")
    assert (await client.get("/cache", allow_redirects=False)).status in (302, 303, 403)


async def test_pre_staging_lists_from_the_page_and_the_api(
    client: TestClient[Any, Any], core: Core
) -> None:
    token = await api_login(client, "referent")
    page = await (await client.get("/cache")).text()
    form_token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    sha = "a" * 64
    saved = await client.post(
        "/cache/prestage",
        data={
            "csrf_token": form_token,
            "plan": "chariot-ipad",
            "urls": f"# la mise à jour de rentrée\nhttp://dl.google.com/chromeos/u.bin {sha}\n"
            "http://download.windowsupdate.com/kb.cab\n",
        },
    )
    assert saved.status == 200
    assert "Liste enregistrée." in await saved.text()
    assert "chariot-ipad" in await saved.text()
    items = await cache_admin.prestage_items(core, "chariot-ipad")
    assert [(i["url"], i["sha256"]) for i in items] == [
        ("http://dl.google.com/chromeos/u.bin", sha),
        ("http://download.windowsupdate.com/kb.cab", ""),
    ]
    # A bad line is refused with the line number, and nothing changes.
    refused = await client.post(
        "/cache/prestage",
        data={"csrf_token": form_token, "plan": "chariot-ipad", "urls": "https://x.test/a"},
    )
    assert "ligne 1" in await refused.text()
    assert len(await cache_admin.prestage_items(core, "chariot-ipad")) == 2
    # The API: the same lists, a run requested, a plan deleted; bad input names the key.
    headers = {"X-CSRF-Token": token}
    put = await client.put(
        "/api/v1/cache/prestage/salle-info",
        json={"items": [{"url": "http://deb.debian.org/debian/pool/main/a/a.deb"}]},
        headers=headers,
    )
    assert put.status == 200, await put.text()
    bad = await client.put(
        "/api/v1/cache/prestage/salle-info",
        json={"items": [{"url": "http://deb.debian.org/x", "sha256": "xyz"}]},
        headers=headers,
    )
    assert bad.status == 422
    assert "items.0 : sha256" in (await bad.json())["error"]["message"]
    run = await client.post("/api/v1/cache/prestage/runs", json={"hours": 2}, headers=headers)
    assert run.status == 201
    figures = await (await client.get("/api/v1/cache")).json()
    assert {p["plan"] for p in figures["plans"]} == {"chariot-ipad", "salle-info"}
    assert figures["runs"][0]["status"] == "requested"
    removed = await client.delete("/api/v1/cache/prestage/salle-info", headers=headers)
    assert removed.status == 200
    gone = await client.delete("/api/v1/cache/prestage/salle-info", headers=headers)
    assert gone.status == 404
    page = await (await client.get("/cache")).text()
    assert "demandé" in page
    audit = await core.db.fetchall("SELECT action, target FROM audit WHERE action LIKE 'cache.%'")
    assert ("cache.prestage.plan", "salle-info") in [(a["action"], a["target"]) for a in audit]


async def test_the_page_says_whether_a_mac_content_cache_serves_the_ipads(
    client: TestClient[Any, Any], core: Core
) -> None:

    await api_login(client, "referent")
    assert "Aucun appareil Apple" in await (await client.get("/cache")).text()
    lookups = ("preau_filter_apple_cache_queries_total", 'kind="lookup"', 42.0)
    await publish_metrics(core, "filter", [lookups])
    page = await (await client.get("/cache")).text()
    assert "cherché un cache de contenu 42 fois" in page
    registered = [
        lookups,
        ("preau_filter_apple_cache_queries_total", 'kind="registration"', 3.0),
        ("preau_filter_apple_cache_last_seen_seconds", 'kind="registration"', 1_795_000_000.0),
    ]
    await publish_metrics(core, "filter", registered)
    page = await (await client.get("/cache")).text()
    assert "Un Mac avec le cache de contenu s&#39;est enregistré" in page or (
        "Un Mac avec le cache de contenu s'est enregistré" in page
    )


async def test_the_check_page_says_what_failed_in_words(
    client: TestClient[Any, Any], core: Core
) -> None:
    await api_login(client, "referent")
    page = await (await client.get("/cache")).text()
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    checked = await (await client.post("/cache/verifier", data={"csrf_token": token})).text()
    assert "Une vérification a échoué" in checked
    assert "✗ échec" in checked
    assert "[cache] enabled = false" in checked

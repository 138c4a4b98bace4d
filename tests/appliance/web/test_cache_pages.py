"""The referent sees what the update cache saved (issue #6 scope 8; CARMO #6.2)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from appliance import cache_admin
from appliance.core import Core
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

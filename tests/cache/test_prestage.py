"""Night pre-staging: lists fetched inside the window, pinned, checked, stopped at its end
(issue #6 scope 6; CARMO #6.2, #7.21, #11.12)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from appliance.config import PreauConfig, build_config
from appliance.core import Core
from appliance.scheduler.calendar import SchoolCalendar
from cache import state as cache_admin
from cache.cache_base import background_rate
from cache.config import CacheConfig
from cache.fill import TokenBucket
from tests.cache.conftest import WINDOWS, CacheLab
from tests.conftest import opened_core

T = TypeVar("T")
MIB = 1 << 20


def _with_core(config: PreauConfig, action: Callable[[Core], Awaitable[T]]) -> T:
    async def go() -> T:
        async with opened_core(config) as core:
            return await action(core)

    return asyncio.run(go())


def _config(lab: CacheLab) -> PreauConfig:
    assert lab.config_path is not None
    return build_config(__import__("tomllib").loads(lab.config_path.read_text()))


def _wait_run(lab: CacheLab, run_id: int, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(lab.tmp / "data" / "state.db")) as db, db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM cache_prestage_runs WHERE id = ?", (run_id,)).fetchone()
        if row is not None and row["status"] in ("done", "stopped"):
            return dict(row)
        time.sleep(0.2)
    raise AssertionError("the run did not finish")


def _items(lab: CacheLab) -> dict[str, dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(lab.tmp / "data" / "state.db")) as db, db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM cache_prestage_items").fetchall()
    return {row["url"].rsplit("/", 1)[1]: dict(row) for row in rows}


def test_a_night_list_is_fetched_pinned_and_checked(cache_lab: CacheLab) -> None:
    good = cache_lab.add_file("good.cab", 8 * MIB)
    cache_lab.add_file("tampered.cab", 4 * MIB)
    # The same budget in and out of class hours: the test does not depend on the clock.
    cache_lab.configure(background_rate_mbit=40, class_hours_rate_mbit=40)
    cache_lab.start_cache()
    config = _config(cache_lab)
    base = f"http://{WINDOWS}/files"
    items = [
        cache_admin.PrestageItem(f"{base}/good.cab", hashlib.sha256(good).hexdigest()),
        cache_admin.PrestageItem(f"{base}/tampered.cab", "0" * 64),
        cache_admin.PrestageItem("http://example.org/not-a-cdn.bin"),
    ]

    async def plan(core: Core) -> int:
        await cache_admin.set_plan(core, "chariot-1", items, actor="referent", source="test")
        return await cache_admin.request_prestage(core, time.time() + 60)

    began = time.monotonic()
    report = _wait_run(cache_lab, _with_core(config, plan), 60)
    took = time.monotonic() - began
    assert report["status"] == "done"
    assert (report["items_done"], report["items_failed"], report["items_left"]) == (1, 2, 0)
    items_now = _items(cache_lab)
    assert items_now["good.cab"]["status"] == "done"
    assert "SHA-256" in items_now["tampered.cab"]["error"]
    assert items_now["not-a-cdn.bin"]["error"] == "no cache rule for this address"
    # 12 MiB at 40 Mbit/s: the WAN budget held (about 2.5 s at least).
    assert took >= 12 * MIB / 5_000_000 * 0.8, took
    # The morning: a device gets the good file from the cache, nothing more upstream.
    sent = cache_lab.origin_sent("/files/good.cab")
    device = cache_lab.download("/files/good.cab")
    assert device.digest == hashlib.sha256(good).hexdigest()
    assert "X-Preau-Cache: hit" in device.headers
    assert cache_lab.origin_sent("/files/good.cab") == sent
    # The tampered file was not kept: a device fetches it again.
    cache_lab.download("/files/tampered.cab")
    assert cache_lab.origin_sent("/files/tampered.cab") == 8 * MIB
    cache_lab.stop_cache()
    with contextlib.closing(sqlite3.connect(cache_lab.tmp / "data" / "state.db")) as db, db:
        pinned = db.execute("SELECT url, pinned FROM cache_objects WHERE pinned != ''").fetchall()
    assert pinned == [(f"{base}/good.cab", "chariot-1")]


def test_pre_staging_stops_when_the_window_closes(cache_lab: CacheLab) -> None:
    for number in range(4):
        cache_lab.add_file(f"big{number}.cab", 16 * MIB)
    cache_lab.configure(background_rate_mbit=40, class_hours_rate_mbit=40)
    cache_lab.start_cache()
    config = _config(cache_lab)
    items = [cache_admin.PrestageItem(f"http://{WINDOWS}/files/big{n}.cab") for n in range(4)]

    async def plan(core: Core) -> int:
        await cache_admin.set_plan(core, "nuit", items, actor="referent", source="test")
        return await cache_admin.request_prestage(core, time.time() + 5)

    report = _wait_run(cache_lab, _with_core(config, plan), 30)
    assert report["status"] == "stopped"
    assert report["items_left"] >= 2
    assert report["finished_at"] - report["started_at"] < 7
    time.sleep(1.0)
    _, after_stop = cache_lab.wan_bytes()
    time.sleep(2.0)
    assert cache_lab.wan_bytes()[1] - after_stop < 256 * 1024  # nothing more comes in
    assert _items(cache_lab)["big3.cab"]["status"] == "pending"


def test_class_hours_get_the_lower_budget() -> None:
    zone = ZoneInfo("Europe/Paris")
    calendar = SchoolCalendar(zone)
    config = CacheConfig(background_rate_mbit=80, class_hours_rate_mbit=4)
    lesson = dt.datetime(2026, 11, 23, 10, 0, tzinfo=zone)  # a Monday morning
    night = dt.datetime(2026, 11, 23, 2, 0, tzinfo=zone)
    assert background_rate(config, calendar, lesson) == 4 * 125_000
    assert background_rate(config, calendar, night) == 80 * 125_000
    assert background_rate(config, None, night) == 4 * 125_000  # no calendar: assume lessons


async def test_token_bucket_paces_bytes() -> None:
    bucket = TokenBucket(lambda: 1_000_000.0, burst_seconds=0.05)
    began = time.monotonic()
    for _ in range(20):
        await bucket.take(25_000)
    assert time.monotonic() - began >= 0.4  # 500 kB at 1 MB/s, less the burst
    unlimited = TokenBucket(lambda: 0.0)
    began = time.monotonic()
    await unlimited.take(10**9)
    assert time.monotonic() - began < 0.05


async def test_lists_named_in_the_configuration_are_kept_in_step_with_it(tmp_path: Any) -> None:
    """A central policy sends the académie's pre-staging list as a config key (#6.2, #7.21)."""
    from pydantic import ValidationError

    from cache.config import PrestageEntry
    from tests.conftest import make_config

    digest = hashlib.sha256(b"x").hexdigest()
    wanted = {
        "academie": [
            PrestageEntry(url="http://dl.example/app-1.2.msi", sha256=digest),
            PrestageEntry(url="http://dl.example/atlas.pdf"),
        ]
    }
    config = make_config(tmp_path / "data")
    async with opened_core(config) as core:
        await cache_admin.set_plan(
            core, "college", [cache_admin.PrestageItem("http://local.example/a.iso")],
            actor="referent", source="web",
        )  # fmt: skip
        await cache_admin.keep_config_plans(core, wanted)
        items = await cache_admin.prestage_items(core, "academie")
        assert [(i["url"], i["sha256"], i["added_by"]) for i in items] == [
            ("http://dl.example/app-1.2.msi", digest, "configuration"),
            ("http://dl.example/atlas.pdf", "", "configuration"),
        ]
        audited = "SELECT COUNT(*) FROM audit WHERE action = 'cache.prestage.plan'"
        before = (await core.db.fetchone(audited))[0]
        await cache_admin.keep_config_plans(core, wanted)  # every start: nothing rewritten
        assert (await core.db.fetchone(audited))[0] == before
        await cache_admin.keep_config_plans(core, {})  # the policy no longer names it
        assert await cache_admin.prestage_items(core, "academie") == []
        # The referent's own list was never touched.
        assert len(await cache_admin.prestage_items(core, "college")) == 1
    for bad in ({"Académie": []}, {"a": [{"url": "https://dl.example/x"}]}):
        with pytest.raises(ValidationError):
            CacheConfig.model_validate({"prestage_plans": bad})

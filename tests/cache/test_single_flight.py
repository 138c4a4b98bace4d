"""Many devices, one upstream fetch, bytes streamed as they land (issue #6 scope 2-3;
CARMO #6.2: OTA installs that spare the school's link)."""

from __future__ import annotations

import contextlib
import hashlib
import random
import sqlite3

from tests.cache.conftest import CacheLab

MIB = 1 << 20


def test_thirty_devices_share_one_upstream_fetch(cache_lab: CacheLab) -> None:
    data = cache_lab.add_file("update.cab", 48 * MIB)
    cache_lab.limit_wan("200mbit")
    cache_lab.start_cache()
    started = [cache_lab.start_download("/files/update.cab") for _ in range(30)]
    results = [cache_lab.finish(s) for s in started]
    expected = hashlib.sha256(data).hexdigest()
    assert [(r.code, r.status, r.digest) for r in results] == [(0, 200, expected)] * 30
    _, sent = cache_lab.wan_bytes()
    assert sent <= len(data) * 1.03, f"{sent} upstream bytes for {len(data)}"
    # Once it is whole, another device is a hit: nothing more upstream.
    again = cache_lab.download("/files/update.cab")
    assert again.digest == expected
    assert "X-Preau-Cache: hit" in again.headers
    assert cache_lab.wan_bytes()[1] == sent
    # What the referent's page will show: served ≈ 31 copies, fetched ≈ one (#6.2).
    cache_lab.stop_cache()
    with contextlib.closing(sqlite3.connect(cache_lab.tmp / "data" / "state.db")) as db, db:
        served, fetched, hits, misses = db.execute(
            "SELECT served_bytes, fetched_bytes, hits, misses FROM cache_traffic"
            " WHERE content_class = 'windows'"
        ).fetchone()
        ((url, object_served),) = db.execute("SELECT url, served_bytes FROM cache_objects")
    assert served == 31 * len(data)
    assert len(data) <= fetched <= len(data) * 1.03
    assert hits >= 1
    assert hits + misses == 31
    assert url.endswith("/files/update.cab")
    assert object_served == served


def test_devices_asking_ranges_converge_on_one_copy(cache_lab: CacheLab) -> None:
    data = cache_lab.add_file("chromeos.bin", 40 * MIB)
    cache_lab.limit_wan("200mbit")
    cache_lab.start_cache()
    chooser = random.Random(6)
    ranges = []
    for _ in range(12):
        start = chooser.randrange(0, len(data) - 2 * MIB)
        ranges.append((start, min(len(data), start + chooser.randrange(MIB, 8 * MIB)) - 1))
    started = [cache_lab.start_download("/files/chromeos.bin") for _ in range(6)]
    ranged = [
        cache_lab.start_download("/files/chromeos.bin", byte_range=f"{a}-{b}") for a, b in ranges
    ]
    whole = [cache_lab.finish(s) for s in started]
    parts = [cache_lab.finish(s) for s in ranged]
    expected = hashlib.sha256(data).hexdigest()
    assert all(r.digest == expected for r in whole)
    for (a, b), part in zip(ranges, parts, strict=True):
        assert part.status == 206
        assert part.digest == hashlib.sha256(data[a : b + 1]).hexdigest()
    _, sent = cache_lab.wan_bytes()
    assert sent <= len(data) * 1.03, f"{sent} upstream bytes for {len(data)}"

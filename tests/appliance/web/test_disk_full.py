"""A full data disk gives a clear error, acknowledges nothing, loses nothing (rule 3)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.core import Core
from appliance.web.app import create_app
from tests.appliance.web.conftest import ClientFactory, api_login, seed_local_people
from tests.conftest import make_config, opened_core


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """Mount a 4 MiB tmpfs: a data disk that fills up quickly."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    subprocess.run(
        ["/usr/bin/mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["/usr/bin/umount", "-l", str(mount_point)], check=True)


@pytest.fixture
async def small_core(small_disk: Path) -> AsyncIterator[Core]:
    async with opened_core(make_config(small_disk / "data")) as core:
        yield core


def _fill(path: Path) -> None:
    # Unbuffered: a short last write must not leave bytes for close() to fail on.
    chunk = b"\0" * 65536
    with path.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(chunk)


async def test_full_disk_refuses_write_clearly_then_recovers(
    small_core: Core, small_disk: Path, aiohttp_client: ClientFactory
) -> None:
    await seed_local_people(small_core)
    client: Any = await aiohttp_client(create_app(small_core))
    token = await api_login(client, "referent")
    headers = {"X-CSRF-Token": token}
    first = await client.post(
        "/api/v1/calendar/closed-days", json={"day": "2027-01-04", "reason": "a"}, headers=headers
    )
    assert first.status == 201
    filler = small_disk / "filler"
    await small_core.executor.run(_fill, filler)
    full = await client.post(
        "/api/v1/calendar/closed-days",
        json={"day": "2027-01-05", "reason": "x" * 200},
        headers=headers,
    )
    assert full.status == 503
    body = await full.json()
    assert body["error"]["code"] == "disk_full"
    assert body["error"]["message"] == "Le disque de données est plein : rien n'a été enregistré."
    in_english = await client.post(
        "/api/v1/calendar/closed-days?lang=en",
        json={"day": "2027-01-05", "reason": "x" * 200},
        headers=headers,
    )
    assert in_english.status == 503
    english = (await in_english.json())["error"]["message"]
    assert english == "The data disk is full: nothing was saved."
    filler.unlink()
    again = await client.post(
        "/api/v1/calendar/closed-days", json={"day": "2027-01-06", "reason": "b"}, headers=headers
    )
    assert again.status == 201
    listed = await client.get("/api/v1/calendar/closed-days")
    days = [row["day"] for row in (await listed.json())["closed_days"]]
    assert days == ["2027-01-04", "2027-01-06"]
    check = await small_core.db.fetchone("PRAGMA integrity_check")
    assert check is not None
    assert check[0] == "ok"

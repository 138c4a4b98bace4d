"""SIGKILL during a burst of admin writes loses no acknowledged write.

Reliability goal 1 and ground rule 3: `preau run` is killed with SIGKILL at a
random moment while clients are adding closed days through the API, 50 times
in a row; every write that got its 201 must still be there, and the database
must pass ``integrity_check`` after every restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import signal
import sqlite3
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.appliance.test_core import referent_session, seed_referent
from tests.conftest import PREAU, make_config, wait_for_port, write_config

KILLS = 50


async def _burst(base: str, cookie: str, token: str, first: int, acked: set[str]) -> int:
    """Add closed days as fast as possible until the server dies; return attempts."""
    attempts = 0
    counter = first

    async def writer(session: aiohttp.ClientSession, lane: int) -> None:
        nonlocal attempts, counter
        while True:
            counter += 1
            day = (dt.date(2030, 1, 1) + dt.timedelta(days=counter)).isoformat()
            attempts += 1
            try:
                async with session.post(
                    f"{base}/api/v1/calendar/closed-days",
                    json={"day": day, "reason": f"lane {lane}"},
                    headers={"Cookie": cookie, "X-CSRF-Token": token},
                ) as response:
                    if response.status == 201:
                        acked.add(day)
                    else:
                        raise AssertionError(f"unexpected {response.status}")
            except (aiohttp.ClientError, ConnectionError):
                return

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(writer(session, lane) for lane in range(4)))
    return attempts


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigkill_loses_no_acknowledged_write(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    path = write_config(config, tmp_path / "preau.toml")
    password = seed_referent(path)
    base = f"http://127.0.0.1:{config.web.port}"
    rng = random.Random(20261122)
    acked: set[str] = set()
    cookie = token = ""
    total_attempts = 0
    for kill in range(KILLS):
        log = (tmp_path / "run.log").open("ab")
        process = subprocess.Popen(
            [str(PREAU), "--config", str(path), "run"], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        try:
            wait_for_port("127.0.0.1", config.web.port, timeout=20)
            if not cookie:
                cookie, token = referent_session(base, password)
            loop = asyncio.new_event_loop()
            try:
                burst = loop.create_task(_burst(base, cookie, token, kill * 10_000, acked))
                loop.run_until_complete(asyncio.sleep(rng.uniform(0.05, 0.4)))
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                total_attempts += loop.run_until_complete(burst)
            finally:
                loop.close()
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
        conn = sqlite3.connect(config.state_path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            stored = {row[0] for row in conn.execute("SELECT day FROM closed_days")}
        finally:
            conn.close()
        lost = acked - stored
        assert not lost, f"kill {kill}: lost acknowledged writes {sorted(lost)[:5]}"
    assert len(acked) >= KILLS  # the bursts did write
    assert total_attempts > len(acked)  # and some writes were cut by the kills

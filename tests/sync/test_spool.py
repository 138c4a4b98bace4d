"""Reports survive a long WAN cut, restarts and a kill: each arrives once, in order (#8.15).

Beats Prometheus's agent (samples lost when restarted during an outage) and
Zabbix's proxy (1 h kept offline): the spool is on disk, bounded in bytes
and age, drops the oldest first and counts them.
"""

from __future__ import annotations

import itertools
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.config import PreauConfig
from sync.intake import Intake
from sync.link import enrol
from sync.repository import CentralRepository
from sync.service import SyncService
from sync.state import read_link, spool_size
from tests.conftest import (
    SCHOOL_UAI,
    PreauProcess,
    make_config,
    opened_core,
    run_preau,
    write_config,
)
from tests.sync.conftest import Centre, spool_count, wait_for

pytestmark = pytest.mark.timeout(300)


class SimulatedClock:
    """The box's system clock, moved by the test."""

    def __init__(self) -> None:
        """Start at the real time."""
        self.now = time.time()

    def __call__(self) -> float:
        """Return the simulated time."""
        return self.now


async def run_turns(
    config: PreauConfig, clock: SimulatedClock, turns: int, step: float
) -> list[int]:
    """Open the box, run ``turns`` turns ``step`` seconds apart, close it; return spool sizes."""
    sizes = []
    async with opened_core(config) as core:
        service = SyncService(core, clock)
        await service.async_setup()
        try:
            for _ in range(turns):
                clock.now += step
                await service.turn()
                sizes.append((await spool_size(core.db))[1])
        finally:
            await service.async_stop()
    return sizes


async def test_72_hours_without_wan_and_two_restarts_lose_only_what_the_cap_drops(
    centre: Centre, tmp_path: Path
) -> None:
    cap = 64 * 1024
    config = make_config(tmp_path / "box", sync={"report_minutes": 15, "spool_max_kib": 64})
    clock = SimulatedClock()
    async with opened_core(config) as core:
        link = await enrol(core, centre.token(SCHOOL_UAI), "referent", "web")
    await run_turns(config, clock, 1, 0)  # one report goes up at once
    intake = Intake(CentralRepository(centre.central))
    assert len(intake.arrivals(link.box_id)) == 1

    centre.cut()
    sizes: list[int] = []
    for _day in range(3):  # 3 × 24 h of reports every 15 minutes, the box restarting daily
        sizes += await run_turns(config, clock, 96, 15 * 60)
    assert max(sizes) <= cap
    async with opened_core(config) as core:
        waiting = [
            row["seq"] for row in await core.db.fetchall("SELECT seq FROM sync_spool ORDER BY seq")
        ]
        dropped = (await read_link(core.db)).spool_dropped_total
    assert dropped > 0  # 288 reports do not fit in 64 KiB: the oldest went
    assert len(waiting) + dropped == 288
    assert waiting == list(range(waiting[0], waiting[0] + len(waiting)))  # the newest kept

    centre.restore()
    await run_turns(config, clock, 2, 60)
    arrivals = intake.arrivals(link.box_id)
    seqs = [int(key.rsplit(":", 1)[1]) for key in arrivals]
    async with opened_core(config) as core:
        assert await spool_size(core.db) == (0, 0)
        dropped = (await read_link(core.db)).spool_dropped_total
    # Each report arrived once, in order: the first, then a run without a gap up to
    # the newest; every report made in between either arrived or was counted dropped.
    assert seqs[0] == 1
    assert seqs[1:] == list(range(seqs[1], seqs[-1] + 1))
    assert waiting[-1] in seqs
    assert (len(seqs) - 1) + dropped == seqs[-1] - 1
    # The backlog's reports carry the times they were made at, in order (after the
    # cut the box takes the centre's time again, which this simulation left behind).
    backlog = [
        r for r in intake.reports(link.box_id) if int(r["key"].rsplit(":", 1)[1]) <= waiting[-1]
    ]
    times = [report["generated_at"] for report in backlog]
    assert times == sorted(times)
    gaps = {round(later - earlier) for earlier, later in itertools.pairwise(times[1:])}
    assert gaps == {15 * 60}  # one every quarter of an hour, none missing in the kept run


def limit_intake(centre: Centre, per_second: int) -> None:
    """Slow the intake down behind nginx (a narrow uplink), so a kill lands mid-send."""
    conf = centre.folder / "nginx.conf"
    text = conf.read_text()
    text = text.replace(
        "  server {",
        f"  limit_req_zone $binary_remote_addr zone=up:1m rate={per_second}r/s;\n  server {{",
        1,
    )
    text = text.replace(
        "location /intake/ {", "location /intake/ {\n      limit_req zone=up burst=1000;"
    )
    conf.write_text(text)


def test_a_kill_mid_send_and_restarts_deliver_each_report_once(
    centre: Centre, tmp_path: Path, preau_factory: Callable[..., PreauProcess]
) -> None:
    config = make_config(
        tmp_path / "box",
        sync={"poll_minutes": 0.05, "report_minutes": 0.05, "batch_kib": 1},
        filter={"enabled": False},
    )
    config_path = write_config(config, tmp_path / "box.toml")
    enrolled = run_preau("sync", "enrol", centre.token(SCHOOL_UAI), config_path=config_path)
    assert enrolled.returncode == 0, enrolled.stderr
    box_id = enrolled.stdout.split()[-1]
    intake = Intake(CentralRepository(centre.central))
    centre.cut()
    for wanted in (6, 12):  # reports pile up; the box restarts twice meanwhile
        box = preau_factory(config, name="box")
        wait_for(lambda wanted=wanted: spool_count(config) >= wanted, box)
        assert box.stop() == 0
    limit_intake(centre, 2)
    centre.restore()
    box = preau_factory(config, name="box")
    wait_for(lambda: len(intake.arrivals(box_id)) >= 2, box)
    box.stop(signal.SIGKILL)  # in the middle of the drain
    assert spool_count(config) > 0
    box = preau_factory(config, name="box")
    wait_for(lambda: spool_count(config) == 0, box, within=120)
    seqs = [int(key.rsplit(":", 1)[1]) for key in intake.arrivals(box_id)]
    assert len(seqs) == len(set(seqs))
    assert seqs == sorted(seqs)
    assert seqs == list(range(1, len(seqs) + 1))  # none lost (the cap was never reached)
    reports = intake.reports(box_id)
    assert [json.loads(json.dumps(r))["key"] for r in reports] == [f"{box_id}:{s}" for s in seqs]

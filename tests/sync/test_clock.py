"""Time before trust: a box without a clock judges no expiry until the centre signs the time.

A Raspberry Pi boots in 1970 or at its image date; a captive portal upstream
can hand it 2099. Neither may make it drop its policy (everything "expired")
or keep a dead one forever (nothing ever expires). The box learns the time
from an answer the centre's timestamp key signed over the box's own nonce:
no unauthenticated ``Date:`` header, and no TLS to switch off.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import pytest

from sync.link import SyncPaths, enrol
from sync.service import SyncService
from sync.state import read_link
from sync.trust import PolicyFetchError, fetch_policy
from tests.conftest import SCHOOL_UAI, make_config, opened_core
from tests.sync.conftest import Centre
from tests.sync.test_spool import SimulatedClock

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("boot", ["1970-01-01", "2099-12-31"])
async def test_a_box_with_a_wrong_clock_learns_the_time_before_judging_expiry(
    centre: Centre, tmp_path: Path, boot: str
) -> None:
    config = make_config(tmp_path / "box")
    clock = SimulatedClock()
    async with opened_core(config) as core:
        await enrol(core, centre.token(SCHOOL_UAI), "referent", "web")
        (SyncPaths.of(core).clock).unlink(missing_ok=True)  # a fresh box: no time kept
        clock.now = dt.datetime.fromisoformat(boot).replace(tzinfo=dt.UTC).timestamp()
        service = SyncService(core, clock)
        await service.async_setup()
        try:
            # The centre cannot be reached: the box says it has no trusted time and
            # judges nothing (no "expired" at 2099, no "valid forever" at 1970).
            centre.cut()
            await service.turn()
            link = await read_link(core.db)
            assert not link.time_trusted
            assert not link.policy_stale
            health = await service.async_health()
            assert health.status == "ok"
            # The centre answers: its signed time sets the box's clock, and the
            # repository, valid today, is accepted.
            centre.restore()
            await service.turn()
            link = await read_link(core.db)
            assert link.time_trusted
            assert not link.policy_stale
            assert abs(service.link.now() - time.time()) < 120
            assert link.policy_version >= 1
            # The time is kept on disk: after a reboot in 1970 the clock never goes below it.
            kept = float(SyncPaths.of(core).clock.read_text())
            assert abs(kept - time.time()) < 120
        finally:
            await service.async_stop()


def test_expiry_is_judged_on_the_time_the_box_trusts_not_the_system_s(
    centre: Centre, tmp_path: Path
) -> None:
    """python-tuf reads its own clock; the box sets it from the signed time (tuf < 8)."""

    async def enrolled() -> SyncPaths:
        async with opened_core(make_config(tmp_path / "box")) as core:
            await enrol(core, centre.token(SCHOOL_UAI), "referent", "web")
            return SyncPaths.of(core)

    paths = asyncio.run(enrolled())
    url = f"{centre.url}/repository"
    today = dt.datetime.now(dt.UTC)
    assert fetch_policy(paths.metadata, paths.targets, url, SCHOOL_UAI, today).version >= 1
    # The same repository judged two days later (the timestamp lives one day): refused,
    # although this machine's own clock says today.
    with pytest.raises(PolicyFetchError, match="expirées"):
        fetch_policy(paths.metadata, paths.targets, url, SCHOOL_UAI, today + dt.timedelta(days=2))

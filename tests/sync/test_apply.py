"""The centre's policy on a running box: applied whole, in force, undone if it breaks the box.

Real processes: `preau run` (every service of the box) polls a real centre
behind nginx every few seconds; a policy restarts the services on the new
config (the process executes itself again), and the DNS filter's answers show
which policy is in force. #5.8 (approved, then applied), #8.15 (availability).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appliance.config import PreauConfig
from appliance.config_overlay import read_overlay
from filter.config import FilterConfig
from sync.state import LinkState
from tests.conftest import (
    SCHOOL_UAI,
    PreauProcess,
    make_config,
    run_preau,
    write_config,
)
from tests.sync.conftest import Centre, link_of

pytestmark = pytest.mark.timeout(240)


def dig_status(config: PreauConfig, name: str) -> str:
    """Return the DNS status the box's filter answers for ``name``."""
    host, port = config.section(FilterConfig).listen[0].rsplit(":", 1)
    done = subprocess.run(
        ["dig", f"@{host}", "-p", port, name, "A", "+tries=1", "+time=3"],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if "status:" in line:
            return line.split("status:")[1].split(",")[0].strip()
    return "no answer"


async def until_link(
    config: PreauConfig, check: Callable[[LinkState], bool], within: float = 60
) -> LinkState:
    """Wait until the running box's link state passes ``check``; return it."""
    deadline = time.monotonic() + within
    while True:
        link = link_of(config)
        if check(link):
            return link
        if time.monotonic() > deadline:
            raise AssertionError(f"link never got there: {link}")
        await asyncio.sleep(0.3)


def start_box(
    tmp_path: Path,
    centre: Centre,
    preau_factory: Callable[..., PreauProcess],
    **filter_values: Any,
) -> PreauProcess:
    """Enrol a box with the CLI, then run every service."""
    config = make_config(
        tmp_path / "box",
        sync={"poll_minutes": 0.05, "report_minutes": 0.05, "apply_check_seconds": 20},
        filter=filter_values,
    )
    config_path = write_config(config, tmp_path / "box.toml")
    enrolled = run_preau("sync", "enrol", centre.token(SCHOOL_UAI), config_path=config_path)
    assert enrolled.returncode == 0, enrolled.stderr
    assert "boîtier inscrit" in enrolled.stdout
    return preau_factory(config, name="box")


async def test_a_policy_applies_to_every_service_and_stays_through_bad_metadata(
    tmp_path: Path, centre: Centre, preau_factory: Callable[..., PreauProcess]
) -> None:
    box = start_box(tmp_path, centre, preau_factory)
    config = box.config
    assert dig_status(config, "interdit.example") != "NXDOMAIN"
    centre.publish(
        'note = "Rentrée"\n[settings]\n'
        '"filter.deny" = { value = ["interdit.example"], locked = true }\n'
        '"site.name" = { value = "Nom du centre" }\n'
        # The académie's holiday calendar: a list of periods, not a file on each box.
        '"scheduler.holidays" = { value = [{ name = "Vacances de Noël", first = "2026-12-19",'
        ' last = "2027-01-03" }], locked = true }\n'
    )
    link = await until_link(config, lambda s: bool(s.policy_digest) and not s.pending)
    assert link.policy_origins == ["all"]
    by_key = {s["key"]: s for s in link.policy_settings}
    # Locked: the centre's value. Not locked and set in the local file: the local one.
    assert by_key["filter.deny"]["winner"] == "centre"
    assert by_key["site.name"]["winner"] == "local"
    assert read_overlay(config.site.data_dir)[0] == {
        "filter": {"deny": ["interdit.example"]},
        "scheduler": {
            "holidays": [{"name": "Vacances de Noël", "first": "2026-12-19", "last": "2027-01-03"}]
        },
    }
    # The filter restarted on it: the domain is denied now.
    assert dig_status(config, "interdit.example") == "NXDOMAIN"
    assert box.process.poll() is None
    # Metadata the box must refuse (an expired timestamp) leaves the policy in force.
    from tests.sync.test_link import expired_timestamp

    expired_timestamp(centre)
    await until_link(config, lambda s: s.policy_stale)
    assert dig_status(config, "interdit.example") == "NXDOMAIN"
    assert box.process.poll() is None


async def test_a_policy_that_breaks_a_service_is_undone_and_not_retried(
    tmp_path: Path, centre: Centre, preau_factory: Callable[..., PreauProcess]
) -> None:
    box = start_box(tmp_path, centre, preau_factory)
    config = box.config
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        busy = f"127.0.0.1:{taken.getsockname()[1]}"
        centre.publish(f'[settings]\n"filter.listen" = {{ value = ["{busy}"], locked = true }}\n')
        link = await until_link(config, lambda s: bool(s.refused_digests))
    assert "annulée" in link.policy_problem
    assert link.policy_digest == ""
    assert read_overlay(config.site.data_dir)[0] == {}
    # The box serves on its own settings again.
    await until_link(config, lambda s: not s.pending)
    deadline = time.monotonic() + 30
    while dig_status(config, "exemple.fr") == "no answer":
        assert time.monotonic() < deadline, box.output()
        await asyncio.sleep(0.5)
    assert box.process.poll() is None

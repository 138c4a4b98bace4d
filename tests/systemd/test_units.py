"""systemd units: they load, each runs its services, and stay hardened (reliability goal 11)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from appliance.services import service_names, unit_services
from tests.conftest import PREAU, REPO

UNITS = REPO / "systemd"


def test_each_unit_runs_its_services_and_every_service_has_one() -> None:
    units = unit_services()
    assert sorted(s for services in units.values() for s in services) == sorted(service_names())
    for unit, services in units.items():
        text = (UNITS / f"preau-{unit}.service").read_text()
        assert re.search(rf"^ExecStart=.* run {' '.join(services)}$", text, re.MULTILINE), unit
    assert sorted(p.stem for p in UNITS.glob("preau-*.service")) == sorted(
        f"preau-{unit}" for unit in units
    )
    target = (UNITS / "preau.target").read_text()
    wants = re.search(r"^Wants=(.*)$", target, re.MULTILINE)
    assert wants is not None
    assert sorted(wants.group(1).split()) == sorted(f"preau-{unit}.service" for unit in units)


def test_the_privileged_services_keep_a_process_of_their_own() -> None:
    """The filter and the portal hold capabilities the web's process must not have."""
    units = unit_services()
    assert units["filter"] == ("filter",)
    assert units["portal"] == ("portal",)
    assert "CAP_NET_ADMIN" not in (UNITS / "preau-web.service").read_text()
    assert "CAP_NET_BIND_SERVICE" not in (UNITS / "preau-web.service").read_text()


@pytest.mark.parametrize("name", unit_services())
def test_unit_loads(tmp_path: Path, name: str) -> None:
    # The real ExecStart path exists only on an installed box: point it at this venv.
    unit = (UNITS / f"preau-{name}.service").read_text()
    (tmp_path / f"preau-{name}.service").write_text(
        unit.replace("/usr/lib/preau/venv/bin/preau", str(PREAU))
    )
    (tmp_path / "preau.target").write_text((UNITS / "preau.target").read_text())
    result = subprocess.run(
        [
            "/usr/bin/systemd-analyze",
            "verify",
            "--man=no",
            str(tmp_path / f"preau-{name}.service"),
            str(tmp_path / "preau.target"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("name", unit_services())
def test_unit_exposure_at_most_2(name: str) -> None:
    result = subprocess.run(
        [
            "/usr/bin/systemd-analyze",
            "security",
            "--offline=true",
            "--threshold=20",
            str(UNITS / f"preau-{name}.service"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    score = re.search(r"Overall exposure level for .*: (\d+\.\d+)", result.stdout)
    assert score is not None
    assert float(score.group(1)) <= 2.0

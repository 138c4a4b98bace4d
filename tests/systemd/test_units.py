"""systemd units: they load, one per service, and stay hardened (reliability goal 11)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from appliance.services import service_names
from tests.conftest import PREAU, REPO

UNITS = REPO / "systemd"


def test_one_unit_per_service_running_that_service() -> None:
    for name in service_names():
        text = (UNITS / f"preau-{name}.service").read_text()
        assert re.search(rf"^ExecStart=.* run {name}$", text, re.MULTILINE)
    target = (UNITS / "preau.target").read_text()
    for name in service_names():
        assert f"preau-{name}.service" in target


@pytest.mark.parametrize("name", service_names())
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


@pytest.mark.parametrize("name", service_names())
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

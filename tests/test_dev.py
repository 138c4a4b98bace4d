"""The README's first command, `./dev demo`, from a fresh clone.

The clone shares this checkout's virtualenv (a symlink) so the test exercises
the script's real path (apt check, venv check, demo config, seeding, run)
without reinstalling every package; CI itself runs the second command,
`./dev test`, from a fresh clone with nothing pre-installed in it.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from appliance.config import demo_config
from appliance.services import enabled_service_names
from tests.conftest import REPO, wait_for_port

DEMO_URL = "http://127.0.0.1:8080"

pytestmark = pytest.mark.timeout(180)


def _clone(tmp_path: Path) -> Path:
    target = tmp_path / "clone"
    subprocess.run(
        ["/usr/bin/git", "clone", "-q", str(REPO), str(target)], check=True, capture_output=True
    )
    # The shared venv must already match the clone's pyproject.toml, or the clone's
    # ./dev would reinstall into it (and point this checkout's venv at the clone).
    stamp = (REPO / ".venv" / ".preau-stamp").read_text().strip()
    wanted = hashlib.sha256((target / "pyproject.toml").read_bytes()).hexdigest()
    if stamp != wanted:
        pytest.fail("pyproject.toml has uncommitted changes: commit them, then rerun ./dev test")
    (target / ".venv").symlink_to(REPO / ".venv")
    return target


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert process.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError("".join(seen))


@contextmanager
def dev_demo(clone: Path) -> Iterator[subprocess.Popen[str]]:
    """Run `./dev demo` in ``clone`` for the block, then stop it with SIGTERM."""
    process = subprocess.Popen(
        ["/usr/bin/bash", str(clone / "dev"), "demo"],
        cwd=clone,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)
        if process.stdout is not None:
            process.stdout.close()


def test_dev_demo_serves_the_french_login_and_the_dashboard(tmp_path: Path) -> None:
    clone = _clone(tmp_path)
    with dev_demo(clone) as process:
        output = _read_until(process, "admin UI", timeout=120)
        password = re.search(r"^referent\s+referent\s+-\s+(\S+)$", output, re.MULTILINE)
        assert password is not None, output
        wait_for_port("127.0.0.1", 8080, timeout=30)

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(f"{DEMO_URL}/login", timeout=10) as response:
            page = response.read().decode()
        assert '<html lang="fr">' in page
        assert "<h1>Connexion</h1>" in page
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        form = urllib.parse.urlencode(
            {"login": "referent", "password": password.group(1), "csrf_token": token.group(1)}
        ).encode()
        with opener.open(f"{DEMO_URL}/login", data=form, timeout=10) as response:
            assert response.url.endswith("/dashboard")
            dashboard = response.read().decode()
        deadline = time.monotonic() + 30
        while True:
            statuses = re.findall(r'data-service="(\w+)" data-status="(\w+)"', dashboard)
            if dict(statuses) == dict.fromkeys(
                enabled_service_names(demo_config(clone / ".demo")), "ok"
            ):
                break
            assert time.monotonic() < deadline, statuses
            time.sleep(0.5)
            with opener.open(f"{DEMO_URL}/dashboard", timeout=10) as response:
                dashboard = response.read().decode()
        assert (clone / ".demo" / "preau.toml").is_file()
        # The demo shows itself: a month of invented use fills the charts (#16 scope 3).
        queries = re.search(r'data-figure="filter.queries">(.*?)</article>', dashboard, re.S)
        assert queries is not None
        drawn = re.findall(r'<rect [^>]*height="([\d.]+)"', queries.group(1))
        assert len(drawn) == 30
        assert sum(float(height) > 0 for height in drawn) >= 15  # the school days
    assert process.returncode == 0

    # Second run: idempotent, no new passwords, same data.
    with dev_demo(clone) as again:
        output = _read_until(again, "admin UI", timeout=60)
        assert "Démo déjà initialisée" in output
        # The hint works as printed, from where ./dev ran it (#16 scope 3).
        assert (
            "Mots de passe oubliés ? .venv/bin/preau --config .demo/preau.toml"
            " demo --reset-passwords" in output
        )

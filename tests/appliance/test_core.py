"""Service model: all-in-one and split runs, change notification, graceful stop.

These run `preau run` as real processes: the same code a systemd unit runs.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appliance.config import PreauConfig
from appliance.services import enabled_service_names
from tests.conftest import PreauProcess, make_config, run_preau

pytestmark = pytest.mark.timeout(90)


def db_rows(config: PreauConfig, sql: str) -> list[tuple[Any, ...]]:
    """Read the state DB as another process would."""
    conn = sqlite3.connect(config.state_path, timeout=10)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll ``predicate`` until true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def healthy_services(config: PreauConfig) -> set[str]:
    """Return the services reporting ok recently."""
    try:
        rows = db_rows(
            config,
            "SELECT service FROM service_health WHERE status = 'ok'"
            " AND updated_at > strftime('%s', 'now') - 15",
        )
    except sqlite3.OperationalError:
        return set()
    return {row[0] for row in rows}


def api_json(
    base: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """Call the API with urllib (no cookies kept)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), dict(err.headers)


def referent_session(base: str, password: str) -> tuple[str, str]:
    """Log in as the local referent; return (cookie header, csrf token)."""
    status, body, headers = api_json(
        base, "POST", "/api/v1/session", {"login": "referent", "password": password}
    )
    assert status == 200, body
    cookie = headers["Set-Cookie"].split(";")[0]
    return cookie, body["csrf_token"]


def seed_referent(config_path: Path) -> str:
    """Seed the demo school and return the referent's password."""
    result = run_preau("demo", config_path=config_path)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("referent "))
    return line.split()[-1]


def next_runs(config: PreauConfig) -> dict[str, str]:
    """Return the scheduler's recorded plan."""
    return {row[0]: row[1] for row in db_rows(config, "SELECT job_id, next_run FROM job_schedule")}


@pytest.mark.parametrize("mode", ["all-in-one", "split"])
def test_change_reaches_the_scheduler_in_both_modes(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], mode: str
) -> None:
    # Nightly window every day, so the next run is tomorrow or tonight.
    config = make_config(
        tmp_path / "data",
        scheduler={"nightly": {"hours": "01:00-05:00", "run_on_holidays": False}},
    )
    if mode == "all-in-one":
        main = preau_factory(config)
    else:
        main = preau_factory(config, "web", name="web")
        for name in enabled_service_names(config):
            if name != "web":
                preau_factory(config, name, wait_web=False, name=name)
    wait_until(lambda: healthy_services(config) == set(enabled_service_names(config)))
    password = seed_referent(main.config_path)
    wait_until(lambda: "audit-purge" in next_runs(config))
    before = next_runs(config)["audit-purge"]
    cookie, token = referent_session(main.base_url, password)
    closed = before[:10]
    status, _, _ = api_json(
        main.base_url,
        "POST",
        "/api/v1/calendar/closed-days",
        {"day": closed, "reason": "grève"},
        {"Cookie": cookie, "X-CSRF-Token": token},
    )
    assert status == 201
    # The scheduler (in this process or another) re-plans past the closed day.
    wait_until(lambda: next_runs(config)["audit-purge"][:10] > closed)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_within_five_seconds(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], sig: signal.Signals
) -> None:
    config = make_config(tmp_path / "data")
    running = preau_factory(config)
    wait_until(lambda: healthy_services(config) == set(enabled_service_names(config)))
    started = time.monotonic()
    code = running.stop(sig, timeout=10)
    assert time.monotonic() - started < 5
    assert code == 0, running.output()
    # A clean stop withdraws its health rows: the dashboard shows "stopped" at once.
    assert healthy_services(config) == set()


def test_unknown_service_is_refused(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    path = tmp_path / "preau.toml"
    from tests.conftest import write_config

    write_config(config, path)
    result = run_preau("run", "filtre", config_path=path)
    assert result.returncode == 2
    assert "unknown service filtre" in result.stderr


def test_port_in_use_is_a_clear_error(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess]
) -> None:
    config = make_config(tmp_path / "data")
    preau_factory(config, "web")
    from tests.conftest import write_config

    path = write_config(config, tmp_path / "second.toml")
    result = run_preau("run", "web", config_path=path)
    assert result.returncode != 0
    assert "address already in use" in result.stderr.lower()

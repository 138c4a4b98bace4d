"""WebDAV on the pedagogical spaces passes the litmus suites (basic, copymove,
props, locks, http) with a directory login; uploads are scanned and atomic;
each person sees only their own space (issue #5 scope 3; #8.11, #8.12)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import (
    EICAR,
    Clamd,
    PreauProcess,
    free_port,
    make_config,
    run_preau,
    wait_for_port,
)

pytestmark = pytest.mark.timeout(300)


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def virus_file(folder: Path) -> Path:
    """Write the EICAR test file."""
    path = folder / "eicar.com"
    path.write_bytes(EICAR)
    return path


def test_litmus_scanning_and_one_space_per_person(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], clamd: Clamd
) -> None:
    port = free_port()
    config = make_config(
        tmp_path / "data",
        productions={
            "webdav_listen": f"127.0.0.1:{port}",
            "antivirus": {"enabled": True, "clamd_socket": str(clamd.socket)},
            "quotas": {"teacher": {"pedagogical_mb": 1}},
        },
    )
    running = preau_factory(config, "web")
    for login, password, role in (
        ("lina", "mot-de-passe-1", "pupil"),
        ("noe", "mot-de-passe-2", "teacher"),
        ("zoe", "mot-de-passe-3", "pupil"),
    ):
        added = run_preau(
            "user",
            "add",
            login,
            "--role",
            role,
            "--name",
            login,
            "--class",
            "6A",
            "--password",
            password,
            config_path=running.config_path,
        )
        assert added.returncode == 0, added.stderr
    wait_for_port("127.0.0.1", port, timeout=20)
    # A first login on the web page makes Lina's PERSONNEL key (and shows her code).
    login = subprocess.run(
        [
            "/usr/bin/curl",
            "-s",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"login": "lina", "password": "mot-de-passe-1"}',
            f"http://127.0.0.1:{config.web.port}/api/v1/session",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert "csrf_token" in login.stdout, login.stdout
    url = f"http://127.0.0.1:{port}/pedagogique/"
    for share in ("pedagogique", "personnel"):
        litmus = subprocess.run(
            ["/usr/bin/litmus", f"http://127.0.0.1:{port}/{share}/", "lina", "mot-de-passe-1"],
            capture_output=True,
            text=True,
            check=False,
            timeout=240,
            cwd=tmp_path,
        )
        summaries = [line for line in litmus.stdout.splitlines() if "summary for" in line]
        assert len(summaries) == 5, share + litmus.stdout[-3000:] + running.output()
        assert all("0 failed" in line for line in summaries), share + "\n".join(summaries)
        assert litmus.returncode == 0
    # PERSONNEL over WebDAV: readable by its owner only, nothing in clear on the disk.
    secret = tmp_path / "journal-b0e7.txt"
    secret.write_bytes(b"secret-f31c9a" * 100)
    personnel_url = f"http://127.0.0.1:{port}/personnel/"
    stored = _curl("-u", "lina:mot-de-passe-1", "-T", str(secret), personnel_url + secret.name)
    assert stored.stdout in ("201", "204")
    back = subprocess.run(
        ["/usr/bin/curl", "-s", "-u", "lina:mot-de-passe-1", personnel_url + secret.name],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert back.stdout == b"secret-f31c9a" * 100
    for path in (config.site.data_dir).rglob("*"):
        assert "journal-b0e7" not in path.name
        if path.is_file():
            assert b"secret-f31c9a" not in path.read_bytes()
    # Noé has no PERSONNEL key yet (no web login): locked, never created over WebDAV.
    assert _curl("-u", "noe:mot-de-passe-2", personnel_url).stdout == "423"
    assert (
        _curl(
            "-u", "lina:mot-de-passe-1", "-T", str(virus_file(tmp_path)), personnel_url + "v.com"
        ).stdout
        == "403"
    )
    # A wrong password gets nothing.
    assert _curl("-u", "lina:faux", url).stdout == "401"
    # A clean file lands in the person's space, atomically; EICAR is refused.
    homework = tmp_path / "devoir.txt"
    homework.write_text("Il était une fois")
    assert _curl("-u", "lina:mot-de-passe-1", "-T", str(homework), url + "devoir.txt").stdout in (
        "201",
        "204",
    )
    virus = tmp_path / "jeu.com"
    virus.write_bytes(EICAR)
    assert _curl("-u", "lina:mot-de-passe-1", "-T", str(virus), url + "jeu.com").stdout == "403"
    space = config.site.data_dir / "productions" / "pedagogical" / "lina"
    assert (space / "devoir.txt").read_text() == "Il était une fois"
    assert sorted(p.name for p in space.iterdir() if p.name != "litmus") == ["devoir.txt"]
    assert not [p for p in space.rglob("*") if p.name.endswith(".part")]
    # Noé's root is his own space: Lina's file is not there, and ".." goes nowhere.
    assert _curl("-u", "noe:mot-de-passe-2", url + "devoir.txt").stdout == "404"
    escape = _curl("-u", "noe:mot-de-passe-2", "--path-as-is", url + "../lina/devoir.txt")
    assert escape.stdout in ("400", "403", "404")

    # Over WebDAV too, a full space refuses (507) and keeps what it holds; use is counted.
    big = tmp_path / "video.bin"
    big.write_bytes(b"v" * 1_500_000)
    assert _curl("-u", "noe:mot-de-passe-2", "-T", str(big), url + "video.bin").stdout == "507"
    assert not (config.site.data_dir / "productions" / "pedagogical" / "noe" / "video.bin").exists()
    with contextlib.closing(sqlite3.connect(config.state_path)) as conn, conn:
        used = conn.execute(
            "SELECT bytes FROM storage_usage WHERE user = 'lina' AND space = 'pedagogical'"
        ).fetchone()
    assert used is not None
    assert used[0] >= len("Il était une fois".encode())
    # Guessing passwords is slowed like on the web login: after the free failures,
    # even the right password waits (401) until the delay has passed.
    for _ in range(8):
        assert _curl("-u", "zoe:devine", url).stdout == "401"
    assert _curl("-u", "zoe:mot-de-passe-3", url).stdout == "401"

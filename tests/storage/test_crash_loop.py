"""kill -9 during uploads, 200 times: every file is a whole version, every
acknowledged upload is there (issue #5 scope 8; rule 3)."""

from __future__ import annotations

import contextlib
import io
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import vault
from storage.paths import sweep_incoming
from storage.pedagogical import PedagogicalSpace
from storage.personnel import PersonnelSpace
from tests.conftest import make_config, run_preau, write_config

CYCLES = 200
PASSWORD = "mot-de-passe-eleve-1"

_UPLOADER = r"""
import asyncio, os, sys
from pathlib import Path
from appliance.config import load_config
from storage.store import ProductionsStore
from appliance.core import Core

config_path, acked_path, start = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])

def version(number):
    size = 50_000 + (number % 7) * 30_000
    return f"version {number}\n".encode() + bytes([number % 251]) * size

async def chunks(data):
    for offset in range(0, len(data), 16_384):
        yield data[offset : offset + 16_384]

async def main():
    core = Core(load_config(config_path), config_path)
    await core.async_open()
    store = ProductionsStore(core)
    await store.unlock_at_login("eleve", sys.argv[4], "s")
    with acked_path.open("a") as acked:
        print("ready", flush=True)
        number = start
        while True:
            for space, mark in (("pedagogical", "P"), ("personnel", "S")):
                body = chunks(version(number))
                await store.put("s", "eleve", "pupil", space, "Devoirs/f.bin", body)
                acked.write(f"{mark} {number}\n")
                acked.flush()
                os.fsync(acked.fileno())
            number += 1

asyncio.run(main())
"""


def _check_version(data: bytes) -> int:
    """Return the version a whole file holds, or fail on a torn one."""
    head, _, body = data.partition(b"\n")
    number = int(head.removeprefix(b"version "))
    assert body == bytes([number % 251]) * (50_000 + (number % 7) * 30_000), number
    return number


@pytest.mark.timeout(600)
def test_uploads_survive_kill_9(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    path = write_config(config, tmp_path / "preau.toml")
    account = ["eleve", "--role", "pupil", "--name", "Élève", "--password", PASSWORD]
    added = run_preau("user", "add", *account, config_path=path)
    assert added.returncode == 0, added.stderr
    acked = tmp_path / "acked.txt"
    acked.touch()
    rng = random.Random(20261122)
    identity = ""
    start = 0
    checked = 0
    root = config.site.data_dir / "productions"
    for _ in range(CYCLES):
        child = subprocess.Popen(
            [sys.executable, "-c", _UPLOADER, str(path), str(acked), str(start), PASSWORD],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready", (
            child.stderr.read() if child.stderr else b""
        )
        time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=10)  # reaps it and closes its pipes
        lines = acked.read_text().split()
        last = {"P": -1, "S": -1}
        for mark, number in zip(lines[0::2], lines[1::2], strict=True):
            last[mark] = max(last[mark], int(number))
        if not identity:
            with contextlib.closing(sqlite3.connect(config.state_path)) as conn, conn:
                (sealed,) = conn.execute("SELECT by_password FROM personnel_keys").fetchone()
            identity = vault.open_sealed(vault.SealedIdentity.from_json(sealed), PASSWORD)
        plain = PedagogicalSpace(root / "pedagogical", "eleve")
        if last["P"] >= 0 or (plain.folder / "Devoirs" / "f.bin").exists():
            collected = bytearray()
            plain.read("Devoirs/f.bin", collected.extend)
            assert _check_version(bytes(collected)) >= last["P"]
            checked += 1
        with contextlib.closing(sqlite3.connect(config.state_path)) as conn, conn:
            (recipient,) = conn.execute("SELECT recipient FROM personnel_keys").fetchone()
        space = PersonnelSpace(root / "personnel", "eleve", recipient)
        index = space.load_index(identity)
        entry = index.files.get("Devoirs/f.bin")
        if last["S"] >= 0:
            assert entry is not None
        if entry is not None:
            sink = io.BytesIO()
            space.read_blob(entry, identity, sink.write)
            assert _check_version(sink.getvalue()) >= last["S"]
        start = max(last.values()) + 1
    # The uploads really ran between the kills, and nothing partial was left visible.
    assert start > CYCLES // 2
    assert checked > CYCLES // 2
    # Killed uploads leave temporaries, never inside the person's space: the
    # space holds the one file, whole, and nothing else.
    plain = PedagogicalSpace(root / "pedagogical", "eleve")
    assert [entry["name"] for entry in plain.listing("Devoirs")] == ["f.bin"]
    assert [p for p in plain.folder.rglob("*") if p.name.endswith(".part")] == []
    leftovers = list((root / "pedagogical").rglob("*.part"))
    assert leftovers, "no kill landed inside an upload: the loop tested nothing"
    assert all(p.parent.name == ".incoming" for p in leftovers)
    # The web service's start sweeps them (no upload is in progress then).
    assert sweep_incoming(root) == len(leftovers)
    # PERSONNEL's are sealed blobs no index names: its garbage collection takes them.
    space.collect_garbage(space.load_index(identity), older_than=0.0)
    assert list(root.rglob("*.part")) == []

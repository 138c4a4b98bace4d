"""A restore killed at any instant leaves the old space or the restored one, whole (#12).

The restore used to move the live copy aside and rename the restored one in:
a kill between the two renames left the person without a space. Now one
``renameat2(RENAME_EXCHANGE)`` swaps them; this loop kills real restores
(real restic, real files) at random instants and checks each time that the
live folder is exactly one of the two snapshots.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from storage.backup import TAG, Backups
from tests.storage.test_backup import _config

CYCLES = 12


def _kill_all(child: subprocess.Popen[bytes]) -> None:
    """Kill the child and the restic it runs, as systemd kills a unit's whole cgroup.

    Killing the Python process alone leaves restic writing into the staging
    folder after the test (or the next restore) has swept it.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _write(folder: Path, version: str, files: int) -> None:
    for index in range(files):
        path = folder / f"Cours-{index % 7}" / f"fiche-{index}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{version} {index} ".encode() * 2000)


_CHILD = """
import sys
from pathlib import Path
from typing import Any
from storage.backup import TAG, Backups
from storage.config import BackupConfig
config = BackupConfig.model_validate_json(sys.argv[1])
backups = Backups(config, Path(sys.argv[2]))
snapshots = sys.argv[3:]
while True:
    for snapshot in snapshots:
        backups.restore("eleve", "", snapshot)
        print("restored", snapshot, flush=True)
"""


_STOP_BEFORE_MOVE = """
import sys, time
from pathlib import Path
from typing import Any
from storage.backup import Backups
from storage.config import BackupConfig
config = BackupConfig.model_validate_json(sys.argv[1])
backups = Backups(config, Path(sys.argv[2]))
stop_at = int(sys.argv[4])
moves = 0
armed = False

def hook(event, args):
    global moves
    # Renames and the exchange syscall (made through ctypes) move folders.
    if armed and event in ("os.rename", "os.replace", "ctypes.call_function"):
        moves += 1
        if moves == stop_at:
            print("stopped", flush=True)
            time.sleep(600)

sys.addaudithook(hook)
real_run = backups._run

def run_then_arm(*args, **kwargs):
    global armed
    out = real_run(*args, **kwargs)
    armed = True  # restic has written the staging copy: now count the moves
    return out

backups._run = run_then_arm
backups.restore("eleve", "", sys.argv[3])
print("restored", flush=True)
"""


def _two_snapshots(config: Any) -> tuple[Path, Backups, dict[str, str], dict[str, str], str, str]:
    data_dir = config.site.data_dir
    live = data_dir / "productions" / "pedagogical" / "eleve"
    backups = Backups(config.productions.backup, data_dir)
    _write(live, "A", 60)
    version_a = _tree(live)
    backups.back_up()
    for path in live.rglob("*.txt"):
        path.unlink()
    _write(live, "B", 90)
    version_b = _tree(live)
    # A second snapshot the same day, kept (back_up's retention keeps one a day).
    backups._run("backup", "--tag", TAG, str(backups.source))
    first, second = (snapshot.id for snapshot in backups.snapshots())
    return live, backups, version_a, version_b, first, second


@pytest.mark.parametrize("stop_at", [1, 2, 3])
def test_a_restore_killed_before_each_move_leaves_one_whole_version(
    tmp_path: Path, stop_at: int
) -> None:
    """Deterministic: the kill lands just before the 1st, 2nd, 3rd folder move of a restore.

    The old restore moved the live copy aside, then the restored one in: a kill
    before its second move left no space at all. One exchange has no such point.
    """
    config = _config(tmp_path)
    live, _, version_a, version_b, first, _ = _two_snapshots(config)
    child = subprocess.Popen(
        [sys.executable, "-c", _STOP_BEFORE_MOVE, config.productions.backup.model_dump_json(),
         str(config.site.data_dir), first, str(stop_at)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line in (b"stopped\n", b"restored\n"), line
    finally:
        _kill_all(child)
        if child.stdout is not None:
            child.stdout.close()
    assert _tree(live) in (version_a, version_b), f"killed before move {stop_at}: space torn"
    if line == b"restored\n":
        assert _tree(live) == version_a


@pytest.mark.slow
def test_killed_restores_leave_one_whole_version(tmp_path: Path) -> None:
    config = _config(tmp_path)
    data_dir = config.site.data_dir
    live, backups, version_a, version_b, first, second = _two_snapshots(config)
    assert version_a != version_b
    rng = random.Random(12)
    restored_seen = 0
    for cycle in range(CYCLES):
        order = [first, second] if cycle % 2 else [second, first]
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, config.productions.backup.model_dump_json(),
             str(data_dir), *order],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        try:
            assert child.stdout is not None
            # One restore finishes, then the kill lands somewhere in the next one.
            assert child.stdout.readline().startswith(b"restored")
            restored_seen += 1
            time.sleep(rng.uniform(0.0, 1.5))
        finally:
            _kill_all(child)
            if child.stdout is not None:
                child.stdout.close()
        assert _tree(live) in (version_a, version_b), f"cycle {cycle}: a torn or missing space"
    assert restored_seen == CYCLES
    # The next restore sweeps what killed ones left in the staging folder.
    backups.restore("eleve", "", first)
    assert _tree(live) == version_a
    staging = data_dir / "productions" / ".restore"
    assert [p.name for p in staging.iterdir() if p.name != ".lock"] == []

"""Atomic writes: a crash or an error leaves the old version intact (ground rule 3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.atomic import remove_stale_temporaries, write_atomic


def test_write_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.txt"
    write_atomic(target, "first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_failed_write_keeps_old_version_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file.txt"
    write_atomic(target, "old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_killed_writer_leaves_old_or_new_never_torn(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    old = b"o" * 1_000_000
    new = b"n" * 1_000_000
    write_atomic(target, old)
    script = (
        "import sys; from pathlib import Path; from appliance.atomic import write_atomic\n"
        f"p = Path({str(target)!r})\n"
        "while True:\n"
        "    write_atomic(p, b'n' * 1_000_000)\n"
    )
    for _ in range(10):
        proc = subprocess.Popen([sys.executable, "-c", script])
        try:
            proc.wait(timeout=0.3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert target.read_bytes() in (old, new)
    remove_stale_temporaries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_writer_killed_inside_the_write_keeps_the_old_version(tmp_path: Path) -> None:
    """The kill lands, for certain, after the new bytes are written and before the rename."""
    target = tmp_path / "file.bin"
    old = b"o" * 100_000
    write_atomic(target, old)
    script = (
        "import os, sys, time; from pathlib import Path; from appliance import atomic\n"
        "def stuck(fd):\n"
        "    print('written', flush=True)\n"
        "    time.sleep(600)\n"
        "atomic.os.fsync = stuck\n"
        f"atomic.write_atomic(Path({str(target)!r}), b'n' * 100_000)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"written\n"
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert target.read_bytes() == old
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1
    assert leftovers[0].read_bytes() == b"n" * 100_000
    assert remove_stale_temporaries(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]

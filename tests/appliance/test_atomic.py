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
    removed = remove_stale_temporaries(tmp_path)
    assert removed >= 0
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]

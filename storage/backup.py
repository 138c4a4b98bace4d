"""Backups of the pedagogical spaces and class areas with restic; never PERSONNEL.

restic encrypts, deduplicates and checks its repository (a USB disk, an SFTP
server or a REST server). Only ``productions/pedagogical`` and
``productions/classes`` are given to it:
neither PERSONNEL nor the state DB (which holds PERSONNEL's sealed keys:
a backup of them would defeat erasure, #7.16, #7.29). Restores go through a
staging folder inside the data directory, then swap with the live copy in one
``renameat2(RENAME_EXCHANGE)``: a restore killed at any instant leaves the old
copy or the restored one, whole, never neither; what a killed restore left in
the staging folder is swept by the next one, under a lock. A weekly job restores the
latest snapshot and compares every unchanged file's SHA-256 with the live one.
Blocking (restic is a child process): call through the executor.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from appliance.atomic import exchange, fsync_directory
from appliance.digests import file_sha256
from storage.config import BackupConfig
from storage.pedagogical import user_folder
from storage.personnel import clean_path

RESTIC: Final = "/usr/bin/restic"
TAG: Final = "preau-pedagogical"


class BackupError(RuntimeError):
    """restic failed (its message says why)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One restic snapshot of the pedagogical spaces."""

    id: str
    time: str
    files: int = 0


class Backups:
    """restic for one site."""

    def __init__(self, config: BackupConfig, data_dir: Path) -> None:
        """Back up ``<data_dir>/productions/pedagogical`` into the configured repository."""
        self._config = config
        self.source = data_dir / "productions" / "pedagogical"
        self.classes = data_dir / "productions" / "classes"
        self.archives = data_dir / "productions" / "classes-archive"
        self._cache = data_dir / "restic-cache"

    def _run(self, *args: str, timeout: float = 6 * 3600) -> str:
        if self._config.password_file is None:
            raise BackupError("productions.backup.password_file is not set")
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self._cache),
            "RESTIC_REPOSITORY": self._config.repository,
            "RESTIC_PASSWORD_FILE": str(self._config.password_file),
            "RESTIC_CACHE_DIR": str(self._cache),
        }
        result = subprocess.run(
            [RESTIC, *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise BackupError(result.stderr.strip()[-500:] or f"restic exited {result.returncode}")
        return result.stdout

    def ensure_repository(self) -> bool:
        """Create the repository if it does not exist; return whether it was created."""
        try:
            self._run("cat", "config", timeout=120)
        except BackupError:
            self._run("init", timeout=300)
            return True
        return False

    def back_up(self) -> Snapshot:
        """Snapshot the pedagogical spaces, then apply the retention policy."""
        self.source.mkdir(parents=True, exist_ok=True)
        self.classes.mkdir(parents=True, exist_ok=True)
        self.archives.mkdir(parents=True, exist_ok=True)
        self.ensure_repository()
        options = ["--json", "--tag", TAG, "--exclude", "*.part", "--one-file-system"]
        folders = [str(self.source), str(self.classes), str(self.archives)]
        out = self._run("backup", *options, *folders)
        summary = next(
            (json.loads(line) for line in out.splitlines() if '"message_type":"summary"' in line),
            None,
        )
        if summary is None:
            raise BackupError("restic gave no summary")
        cfg = self._config
        keep = [
            *("--keep-daily", str(cfg.keep_daily)),
            *("--keep-weekly", str(cfg.keep_weekly)),
            *("--keep-monthly", str(cfg.keep_monthly)),
        ]
        self._run("forget", "--prune", "--tag", TAG, *keep)
        return Snapshot(
            str(summary["snapshot_id"])[:8],
            "",
            int(summary.get("total_files_processed", 0)),
        )

    def snapshots(self) -> list[Snapshot]:
        """Return the snapshots, oldest first."""
        raw: list[dict[str, Any]] = json.loads(self._run("snapshots", "--json", "--tag", TAG))
        return [Snapshot(str(s["short_id"]), str(s["time"])) for s in raw]

    def restore(self, user: str, path: str = "", snapshot: str = "latest") -> int:
        """Put back a person's space, folder or file from a snapshot; return files restored."""
        live_root = user_folder(self.source, user)
        relative = clean_path(path) if path.strip("/") else ""
        wanted = live_root / relative if relative else live_root
        with self._staging() as staging:
            self._run("restore", snapshot, "--target", str(staging), "--include", str(wanted))
            restored = staging / str(wanted).lstrip("/")
            if not restored.exists():
                raise BackupError(f"{path or user!r} is not in snapshot {snapshot}")
            if restored.is_dir():
                count = sum(1 for p in restored.rglob("*") if p.is_file())
            else:
                count = 1
            wanted.parent.mkdir(parents=True, exist_ok=True)
            if wanted.exists():
                exchange(restored, wanted)  # one step: the old copy is now in staging
            else:
                restored.rename(wanted)
            fsync_directory(wanted.parent)
            return count

    @contextlib.contextmanager
    def _staging(self) -> Iterator[Path]:
        """Yield a fresh staging folder, alone (a lock), after sweeping killed runs' leftovers.

        Whatever is in the staging root was left by a killed restore or test: a
        restored copy not yet swapped in, or an old copy already swapped out;
        never the only copy of anything.
        """
        staging_root = self.source.parent / ".restore"
        staging_root.mkdir(parents=True, exist_ok=True)
        with (staging_root / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for leftover in staging_root.iterdir():
                if leftover.name != ".lock":
                    shutil.rmtree(leftover, ignore_errors=True)
            staging = Path(tempfile.mkdtemp(dir=staging_root))
            try:
                yield staging
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def verify_latest(self) -> tuple[int, int]:
        """Restore the latest snapshot aside; return (files compared, mismatches).

        Files changed since the snapshot are skipped: they are expected to differ.
        """
        snapshots = json.loads(self._run("snapshots", "--json", "--tag", TAG, "--latest", "1"))
        if not snapshots:
            raise BackupError("no snapshot to test")
        taken = snapshots[-1]["time"]
        with self._staging() as staging:
            self._run("restore", snapshots[-1]["id"], "--target", str(staging))
            base = staging / str(self.source).lstrip("/")
            compared = mismatches = 0
            cutoff = _timestamp(taken)
            for restored in base.rglob("*"):
                if not restored.is_file():
                    continue
                live = self.source / restored.relative_to(base)
                if not live.exists() or live.stat().st_mtime > cutoff:
                    continue
                compared += 1
                if file_sha256(live) != file_sha256(restored):
                    mismatches += 1
            return compared, mismatches


def _timestamp(text: str) -> float:
    """Read restic's RFC 3339 time (nanoseconds: Python keeps microseconds)."""
    return dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text)).timestamp()

"""Crash-safe file replacement.

Every file the appliance writes that a person would miss if it were torn
(config, exported reports, generated rulesets) goes through
:func:`write_atomic`: the bytes go to a temporary file in the same directory,
which is fsynced, renamed over the target, and then the directory itself is
fsynced so the rename survives a power cut. A reader therefore sees either the
complete old version or the complete new one, never a mix (CARMO #8.15;
reliability goal 2).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import tempfile
from pathlib import Path
from typing import Final

_AT_FDCWD: Final = -100
_RENAME_EXCHANGE: Final = 2


def fsync_directory(directory: Path) -> None:
    """Flush a directory entry so a rename inside it is durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def exchange(first: Path, second: Path) -> None:
    """Swap two existing paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Used to put a restored folder in place of the live one: at no instant is
    either name missing, so a kill leaves one whole version under each name.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    status = libc.renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if status != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(first), None, str(second))


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o640) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves old or new, never torn."""
    payload = data.encode() if isinstance(data, str) else data
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_directory(directory)


def remove_stale_temporaries(directory: Path) -> int:
    """Delete temporary files a crash left behind in ``directory``; return how many."""
    removed = 0
    if not directory.is_dir():
        return removed
    for leftover in directory.glob(".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
            removed += 1
    return removed

"""The pedagogical space on disk: plain files, one folder per person, backed up.

Every write streams into a temporary file beside the person's folder
(:func:`~storage.paths.incoming_folder`), is fsynced, renamed
over the old version and the folder fsynced (rule 3): an interrupted upload
leaves the old version, never a partial file. Every path goes through the
one check (:mod:`storage.paths`) here, whatever the caller
did: no route can reach outside the folder, through a link or under a file.
Blocking: call through the executor.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Final

from appliance.atomic import fsync_directory
from appliance.i18n import N_
from storage.errors import SpaceError
from storage.paths import clean_folder, clean_path, incoming_folder, inside
from storage.personnel import Readable
from storage.quota import QuotaError

_SAFE_USER: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CHUNK: Final = 1 << 16


def user_folder(root: Path, user: str) -> Path:
    """Return a person's folder: the account name when it is plain, else a hash."""
    name = user if _SAFE_USER.match(user) else "u-" + hashlib.sha256(user.encode()).hexdigest()[:32]
    return root / name


def _copy_within(source: Readable, out: BinaryIO, limit: int) -> int:
    size = 0
    while chunk := source.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise QuotaError
        out.write(chunk)
    return size


class PedagogicalSpace:
    """One person's pedagogical space."""

    def __init__(self, root: Path, user: str) -> None:
        """Bind the space of ``user`` under ``root``."""
        self.folder = user_folder(root, user)
        self.incoming = incoming_folder(self.folder)

    def _path(self, path: str) -> Path:
        return inside(self.folder, clean_path(path))

    def write(
        self, path: str, source: Readable, limit: int, gate: Callable[[], None] | None = None
    ) -> int:
        """Store ``source`` at ``path`` atomically; return its size.

        ``gate`` runs after the whole file is on disk and before it replaces the
        old version (the antivirus verdict): if it raises, nothing changes.
        """
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        if target.is_dir():
            raise SpaceError(N_("Un dossier porte déjà ce nom."))
        self.incoming.mkdir(parents=True, exist_ok=True, mode=0o750)
        temp = self.incoming / f"{secrets.token_hex(8)}.part"
        try:
            with temp.open("wb") as out:
                size = _copy_within(source, out, limit)
                out.flush()
                os.fsync(out.fileno())
            if gate is not None:
                gate()
            temp.rename(target)
            fsync_directory(target.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        return size

    def read(self, path: str, sink: Callable[[bytes | bytearray], None]) -> None:
        """Copy a file into ``sink``."""
        target = self._path(path)
        if not target.is_file():
            raise FileNotFoundError(path)
        with target.open("rb") as source:
            while data := source.read(CHUNK):
                sink(data)

    def open(self, path: str) -> BinaryIO:
        """Open a file for reading (the path checked, as for every read)."""
        target = self._path(path)
        if not target.is_file():
            raise FileNotFoundError(path)
        return target.open("rb")

    def files(self, limit: int) -> list[str]:
        """Return up to ``limit`` file paths, the most recently changed first."""
        if not self.folder.is_dir():
            return []
        found = [
            (p.stat().st_mtime, p.relative_to(self.folder).as_posix())
            for p in self.folder.rglob("*")
            if p.is_file() and not p.is_symlink() and ".incoming" not in p.parts
        ]
        return [path for _mtime, path in sorted(found, reverse=True)[:limit]]

    def size_of(self, path: str) -> int:
        """Return a file's size (FileNotFoundError for a folder or nothing)."""
        target = self._path(path)
        if not target.is_file():
            raise FileNotFoundError(path)
        return target.stat().st_size

    def listing(self, folder: str) -> list[dict[str, Any]]:
        """Return the direct children of ``folder`` ("" for the top)."""
        folder = clean_folder(folder)
        base = self._path(folder) if folder else self.folder
        if not base.is_dir():
            if folder:
                raise FileNotFoundError(folder)
            return []
        entries = []
        for child in base.iterdir():
            if child.is_symlink():
                continue  # never made by Préau; never followed
            stat = child.stat()
            if child.is_dir():
                entries.append({"name": child.name, "folder": True})
            else:
                entries.append(
                    {
                        "name": child.name,
                        "folder": False,
                        "size": stat.st_size,
                        "modified": stat.st_mtime,
                    }
                )
        return sorted(entries, key=lambda e: (not e["folder"], e["name"].casefold()))

    def make_folder(self, path: str) -> None:
        """Create a folder (and its parents)."""
        self._path(path).mkdir(parents=True, exist_ok=True, mode=0o750)

    def move(self, source: str, target: str) -> None:
        """Rename or move a file or folder inside the space (refused onto an existing name)."""
        origin, destination = self._path(source), self._path(target)
        if not origin.exists():
            raise FileNotFoundError(source)
        if destination.exists():
            raise SpaceError(N_("Un fichier ou un dossier porte déjà ce nom."))
        if destination.is_relative_to(origin):
            raise SpaceError(N_("Un dossier ne peut pas aller dans lui-même."))
        destination.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        origin.rename(destination)
        fsync_directory(destination.parent)
        if origin.parent != destination.parent:
            fsync_directory(origin.parent)

    def delete(self, path: str) -> None:
        """Delete a file or a whole folder."""
        target = self._path(path)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        else:
            raise FileNotFoundError(path)
        fsync_directory(target.parent)

    def usage(self) -> tuple[int, int]:
        """Return (bytes, files) stored."""
        total, count = 0, 0
        if self.folder.exists():
            for item in self.folder.rglob("*"):
                if item.is_file() and not item.is_symlink():
                    total += item.stat().st_size
                    count += 1
        return total, count

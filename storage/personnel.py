"""The PERSONNEL space on disk: age-encrypted blobs and an encrypted index.

Layout, per person (the folder name is a hash of the account, not the name)::

    personnel/<sha256(user)[:32]>/index.age     the folder tree: names, sizes, dates
    personnel/<sha256(user)[:32]>/b/<random>     one file's content, padded

Every blob and the index are age files encrypted to the person's recipient.
What the disk shows is the number of files and each blob's size rounded up
by Padmé (at most 12 % more, leaking O(log log n) bits), never a name, a
folder, an exact size or a date of the person's choosing. Nothing in
plaintext is ever written: uploads are encrypted as they stream in, reads
are decrypted as they stream out, and every write goes to a temporary file
that is fsynced and renamed (an interrupted upload leaves no blob and the
old index). Blocking: call through the executor.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import posixpath
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final, Protocol, TypeVar

from appliance import agefile
from appliance.atomic import fsync_directory, write_atomic
from appliance.i18n import N_
from storage.errors import SpaceError
from storage.paths import PathRefused, PathThroughFile, clean_path
from storage.quota import QuotaError

__all__ = ["PathRefused", "SpaceError", "clean_path"]

INDEX_VERSION: Final = 1
_T = TypeVar("_T")


class Readable(Protocol):
    """What an upload is read from (a file, or a bridge from the network)."""

    def read(self, size: int = -1, /) -> bytes:
        """Return up to ``size`` bytes, b"" at the end."""


def padme(length: int) -> int:
    """Return the Padmé padded length of ``length`` bytes (Nikitin et al., PETS 2019)."""
    if length < 2:
        return max(length, 1)
    exponent = length.bit_length() - 1
    mantissa_bits = exponent.bit_length()
    zeros = exponent - mantissa_bits
    mask = (1 << zeros) - 1
    return (length + mask) & ~mask


@dataclass(slots=True)
class Entry:
    """One file of the space, as the index knows it."""

    blob: str
    size: int
    modified: float


@dataclass(slots=True)
class Index:
    """The decrypted folder tree of one space (in memory only)."""

    files: dict[str, Entry] = field(default_factory=dict)
    folders: set[str] = field(default_factory=set)

    def to_bytes(self) -> bytes:
        """Return the plaintext to encrypt."""
        return json.dumps(
            {
                "v": INDEX_VERSION,
                "files": {p: [e.blob, e.size, e.modified] for p, e in self.files.items()},
                "folders": sorted(self.folders),
            }
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Index:
        """Read the decrypted index."""
        raw = json.loads(data)
        if raw.get("v") != INDEX_VERSION:
            raise SpaceError(N_("Cette version n'existe pas."))
        return cls(
            {p: Entry(str(b), int(s), float(m)) for p, (b, s, m) in raw["files"].items()},
            set(raw["folders"]),
        )

    def _no_file_above(self, path: str) -> None:
        if not parent_folders(path).isdisjoint(self.files):
            raise PathThroughFile

    def put(self, path: str, entry: Entry) -> Entry | None:
        """Name a blob at ``path``; return the entry it replaces."""
        if path in self.folders:
            raise SpaceError(N_("Un dossier porte déjà ce nom."))
        self._no_file_above(path)
        old = self.files.get(path)
        self.files[path] = entry
        self.folders |= parent_folders(path)
        return old

    def add_folder(self, path: str) -> None:
        """Create a folder (and its parents)."""
        if path in self.files:
            raise SpaceError(N_("Un fichier porte déjà ce nom."))
        self._no_file_above(path)
        self.folders |= {path} | parent_folders(path)

    def remove(self, path: str) -> list[str]:
        """Forget a file, or a folder and all it holds; return the blobs to delete."""
        inside = f"{path}/"
        gone = [p for p in self.files if p == path or p.startswith(inside)]
        folders = {f for f in self.folders if f == path or f.startswith(inside)}
        if not gone and not folders:
            raise FileNotFoundError(path)
        self.folders -= folders
        return [self.files.pop(p).blob for p in gone]

    def move(self, source: str, target: str) -> None:
        """Rename or move a file or a folder (with everything in it) in the tree."""
        if target == source or target.startswith(f"{source}/"):
            raise SpaceError(N_("Un dossier ne peut pas aller dans lui-même."))
        if target in self.files or target in self.folders:
            raise SpaceError(N_("Un fichier ou un dossier porte déjà ce nom."))
        self._no_file_above(target)
        moved = {p: e for p, e in self.files.items() if p == source or p.startswith(f"{source}/")}
        folders = {f for f in self.folders if f == source or f.startswith(f"{source}/")}
        if not moved and not folders:
            raise FileNotFoundError(source)
        for path, entry in moved.items():
            del self.files[path]
            self.files[target + path[len(source) :]] = entry
        self.folders -= folders
        self.folders |= {target + f[len(source) :] for f in folders}
        self.folders |= parent_folders(target)

    def listing(self, folder: str) -> list[dict[str, Any]]:
        """Return the direct children of ``folder`` ("" for the top)."""
        prefix = f"{folder}/" if folder else ""
        seen: dict[str, dict[str, Any]] = {}
        for path, entry in self.files.items():
            if path.startswith(prefix):
                head, _, rest = path[len(prefix) :].partition("/")
                if rest:
                    seen.setdefault(head, {"name": head, "folder": True})
                else:
                    seen[head] = {
                        "name": head,
                        "folder": False,
                        "size": entry.size,
                        "modified": entry.modified,
                    }
        for path in self.folders:
            if path.startswith(prefix) and path != folder:
                head = path[len(prefix) :].partition("/")[0]
                seen.setdefault(head, {"name": head, "folder": True})
        return sorted(seen.values(), key=lambda e: (not e["folder"], e["name"].casefold()))


_READ: Final = 1 << 20


def _encrypt_within(source: Readable, writer: agefile.AgeWriter, limit: int) -> int:
    size = 0
    while chunk := source.read(_READ):
        size += len(chunk)
        if size > limit:
            raise QuotaError
        writer.write(chunk)
    return size


def space_folder(root: Path, user: str) -> Path:
    """Return the folder of ``user``'s PERSONNEL (named by a hash of the account)."""
    return root / hashlib.sha256(user.encode()).hexdigest()[:32]


class PersonnelSpace:
    """One person's encrypted space."""

    def __init__(self, root: Path, user: str, recipient: str) -> None:
        """Bind the space of ``user`` under ``root``, encrypting to ``recipient``."""
        self.folder = space_folder(root, user)
        self._recipient = recipient

    @property
    def _blobs(self) -> Path:
        return self.folder / "b"

    def ensure(self) -> None:
        """Create the folders (0700)."""
        self._blobs.mkdir(parents=True, exist_ok=True, mode=0o700)

    def load_index(self, identity: str) -> Index:
        """Decrypt the index (empty for a new space)."""
        path = self.folder / "index.age"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return Index()
        try:
            return Index.from_bytes(agefile.decrypt_stream(identity, io.BytesIO(data)))
        except agefile.AgeError as err:
            raise SpaceError(N_("Le sommaire ne se déchiffre pas avec cette clé.")) from err

    @contextlib.contextmanager
    def changing_index(self, identity: str) -> Iterator[Index]:
        """Load the index for a change and save it after: one change at a time.

        An exclusive ``flock`` serialises the web API, WebDAV's threads and any
        other process, so no change is lost between a load and a save. If the
        block raises, nothing is saved.
        """
        self.ensure()
        with (self.folder / "index.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                index = self.load_index(identity)
                yield index
                self.save_index(index)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def change_index(self, identity: str, change: Callable[[Index], _T]) -> tuple[_T, int]:
        """Apply ``change`` under the index lock; return its result and the file count."""
        with self.changing_index(identity) as index:
            result = change(index)
            count = len(index.files)
        return result, count

    def save_index(self, index: Index) -> None:
        """Encrypt and replace the index atomically."""
        self.ensure()
        sealed = io.BytesIO()
        writer = agefile.AgeWriter(self._recipient, sealed)
        writer.write(index.to_bytes())
        writer.close()
        write_atomic(self.folder / "index.age", sealed.getvalue(), mode=0o600)

    def write_blob(
        self, source: Readable, limit: int, gate: Callable[[], None] | None = None
    ) -> tuple[str, int]:
        """Encrypt ``source`` into a new blob; return its id and the plaintext size.

        The plaintext is followed by zeros up to its Padmé length; the exact
        size lives only in the encrypted index. ``gate`` runs before the blob
        is committed (the antivirus verdict): if it raises, no blob remains.
        """
        self.ensure()
        blob = secrets.token_hex(16)
        final = self._blobs / blob
        temp = self._blobs / f".{blob}.part"
        try:
            with temp.open("wb") as out:
                writer = agefile.AgeWriter(self._recipient, out)
                size = _encrypt_within(source, writer, limit)
                padding = padme(size) - size
                while padding > 0:
                    writer.write(bytes(min(padding, _READ)))
                    padding -= _READ
                writer.close()
                out.flush()
                os.fsync(out.fileno())
            if gate is not None:
                gate()
            temp.rename(final)
            fsync_directory(self._blobs)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        return blob, size

    def read_blob(
        self, entry: Entry, identity: str, sink: Callable[[bytes | bytearray], None]
    ) -> None:
        """Decrypt a blob into ``sink``, block by block, without its padding."""
        left = entry.size
        with (self._blobs / entry.blob).open("rb", buffering=_READ) as source:
            try:
                for block in agefile.iter_plaintext(identity, source):
                    if left <= 0:
                        continue  # padding: still read, so its integrity is checked
                    if len(block) > left:
                        del block[left:]  # the padding starts in this block
                    sink(block)
                    left -= len(block)
            except agefile.AgeError as err:
                raise SpaceError(N_("Le fichier ne se déchiffre pas avec cette clé.")) from err

    def delete_blob(self, blob: str) -> None:
        """Remove a blob (after the index stopped naming it)."""
        with contextlib.suppress(FileNotFoundError):
            (self._blobs / blob).unlink()

    def stored_bytes(self) -> int:
        """Return what the space takes on disk (what an administrator may know)."""
        if not self._blobs.exists():
            return 0
        return sum(p.stat().st_size for p in self._blobs.iterdir())

    def collect_garbage(self, index: Index, older_than: float = 3600.0) -> int:
        """Remove blobs the index does not name (left by a crash); return how many."""
        if not self._blobs.exists():
            return 0
        named = {entry.blob for entry in index.files.values()}
        removed = 0
        now = time.time()
        for path in self._blobs.iterdir():
            orphan = path.name.lstrip(".").removesuffix(".part") not in named
            if orphan and now - path.stat().st_mtime > older_than:
                path.unlink()
                removed += 1
        return removed

    def erase(self) -> None:
        """Destroy the space (its key is destroyed by the caller, #7.29)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def parent_folders(path: str) -> set[str]:
    """Return every folder above ``path``."""
    folders = set()
    head = posixpath.dirname(path)
    while head:
        folders.add(head)
        head = posixpath.dirname(head)
    return folders


def copy_stream(
    source: BinaryIO, sink: Callable[[bytes | bytearray], None], chunk: int = 1 << 16
) -> None:
    """Copy a plaintext file into ``sink`` (the pedagogical space's read path)."""
    while data := source.read(chunk):
        sink(data)

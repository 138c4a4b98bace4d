"""Cached objects on disk: a sparse data file and a metadata file each.

``objects/ab/<sha256 of the key>/`` holds ``data`` (created at the object's
full length, sparse: only fetched chunks take space) and ``meta.json`` (the
origin's length, ETag, type and the bitmap of chunks that are durable). A
chunk enters the bitmap only after its bytes were fsynced, and the metadata
is replaced atomically (temp, fsync, rename, fsync dir), so after a crash or
``kill -9`` every chunk the bitmap names holds the origin's bytes and the
rest is fetched again. Every function here blocks: callers use the executor.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from appliance.atomic import fsync_directory, write_atomic
from cache.chunks import DEFAULT_CHUNK, ChunkMap

_LOGGER = logging.getLogger(__name__)

META: Final = "meta.json"
DATA: Final = "data"
FORMAT: Final = 1


@dataclass(slots=True)
class ObjectMeta:
    """What the cache knows about one object."""

    key: str
    digest: str
    url: str
    length: int
    etag: str = ""
    last_modified: str = ""
    content_type: str = "application/octet-stream"
    content_class: str = ""
    chunk_size: int = DEFAULT_CHUNK
    chunks: ChunkMap = field(init=False)
    created: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.time)
    validated: float = field(default_factory=time.time)
    pinned: str = ""
    sha256: str = ""
    fetched_bytes: int = 0
    served_bytes: int = 0
    checked: bool = False  # completed and compared with the publisher's hash, if any

    def __post_init__(self) -> None:
        self.chunks = ChunkMap(self.length, self.chunk_size)

    def to_json(self) -> bytes:
        """Return the metadata file's content."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["chunks"] = self.chunks.to_text()
        data["format"] = FORMAT
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ObjectMeta:
        """Read a metadata file; raise ValueError if it is not one."""
        data: dict[str, Any] = json.loads(raw)
        if data.pop("format", None) != FORMAT:
            raise ValueError("unknown metadata format")
        bitmap = data.pop("chunks")
        meta = cls(**data)
        meta.chunks = ChunkMap.from_text(meta.length, meta.chunk_size, bitmap)
        return meta

    @property
    def complete(self) -> bool:
        """Return whether every byte is on disk."""
        return self.chunks.complete


def _load(folder: Path) -> ObjectMeta:
    meta = ObjectMeta.from_json((folder / META).read_bytes())
    if meta.digest != folder.name or not (folder / DATA).is_file():
        raise ValueError("metadata does not match its folder")
    return meta


class ObjectStore:
    """The cache's objects under ``root``, within a size limit and a free-space floor."""

    def __init__(self, root: Path, max_bytes: int, min_free_bytes: int) -> None:
        """Remember the limits; :meth:`open` reads what is on disk."""
        self.root = root
        self.max_bytes = max_bytes
        self.min_free_bytes = min_free_bytes
        self._objects = root / "objects"
        self.index: dict[str, ObjectMeta] = {}

    def open(self) -> int:
        """Create the folders and index the objects on disk; return how many."""
        self._objects.mkdir(parents=True, exist_ok=True, mode=0o750)
        for meta_path in self._objects.glob(f"*/*/{META}"):
            folder = meta_path.parent
            try:
                meta = _load(folder)
            except (ValueError, KeyError, TypeError, OSError) as err:
                _LOGGER.warning("Cache object %s dropped: %s", folder.name, err)
                shutil.rmtree(folder, ignore_errors=True)
                continue
            self.index[meta.digest] = meta
        for folder in self._objects.glob("*/*"):
            if folder.name not in self.index and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)  # created, then killed before meta
        return len(self.index)

    def folder(self, digest: str) -> Path:
        """Return an object's folder."""
        return self._objects / digest[:2] / digest

    def data_path(self, digest: str) -> Path:
        """Return an object's data file."""
        return self.folder(digest) / DATA

    def create(self, meta: ObjectMeta) -> None:
        """Make room, then create a sparse data file of the object's length and its metadata."""
        folder = self.folder(meta.digest)
        folder.mkdir(parents=True, exist_ok=True, mode=0o750)
        with (folder / DATA).open("wb") as data:
            data.truncate(meta.length)
            os.fsync(data.fileno())
        self.save(meta)
        fsync_directory(folder.parent)
        self.index[meta.digest] = meta

    def save(self, meta: ObjectMeta) -> None:
        """Replace an object's metadata atomically."""
        write_atomic(self.folder(meta.digest) / META, meta.to_json())

    def remove(self, digest: str) -> None:
        """Delete an object (open readers keep their file until they close it)."""
        self.index.pop(digest, None)
        folder = self.folder(digest)
        with contextlib.suppress(FileNotFoundError):
            (folder / META).unlink()  # first: a half-removed object is never loaded again
        shutil.rmtree(folder, ignore_errors=True)

    def used_bytes(self) -> int:
        """Return the bytes the objects' chunks take (what the limit counts)."""
        return sum(meta.chunks.present_bytes() for meta in self.index.values())

    def free_bytes(self) -> int:
        """Return the free space of the cache's file system."""
        return shutil.disk_usage(self.root).free

    def make_room(self, wanted: int, busy: set[str]) -> list[str]:
        """Evict least recently used objects until ``wanted`` more bytes fit; return them.

        Pinned objects (pre-staged sets) and ``busy`` ones (being filled or
        read) stay. Raises OSError when even that is not enough.
        """
        evicted: list[str] = []
        used = self.used_bytes()
        free = self.free_bytes()

        def fits() -> bool:
            return used + wanted <= self.max_bytes and free - wanted >= self.min_free_bytes

        candidates = sorted(
            (m for m in self.index.values() if not m.pinned and m.digest not in busy),
            key=lambda m: m.last_used,
        )
        for meta in candidates:
            if fits():
                break
            size = meta.chunks.present_bytes()
            self.remove(meta.digest)
            used -= size
            free += size
            evicted.append(meta.digest)
            _LOGGER.info("Cache evicted %s (%d bytes, %s)", meta.url, size, meta.content_class)
        if not fits():
            raise OSError(f"cache full: {wanted} bytes do not fit")
        return evicted

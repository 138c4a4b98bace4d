"""The object store on disk: metadata round trip, damaged objects dropped, room made by
least recent use within the size limit and the free-space floor (issue #6 scope 3-4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cache.objects import ObjectMeta, ObjectStore
from cache.rules import key_digest

MIB = 1 << 20


def _object(store: ObjectStore, name: str, size: int, used: float, pinned: str = "") -> str:
    meta = ObjectMeta(key=name, digest=key_digest(name), url=f"http://cdn/{name}", length=size,
                      chunk_size=MIB, last_used=used, pinned=pinned)  # fmt: skip
    for index in range(meta.chunks.count):
        meta.chunks.mark(index)
    store.create(meta)
    return meta.digest


class _Disk(ObjectStore):
    """A store whose disk has ``free`` bytes left (the real free space is too large to test)."""

    free = 100 * MIB

    def free_bytes(self) -> int:
        return self.free


def test_metadata_survives_a_restart_and_damage_is_dropped(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path, 10**9, 0)
    store.open()
    digest = _object(store, "a", 3 * MIB + 5, 1.0)
    broken = _object(store, "b", MIB, 2.0)
    (store.folder(broken) / "meta.json").write_text("{not json")
    orphan = store.folder(key_digest("c"))
    orphan.mkdir(parents=True)  # created, then killed before its metadata
    again = ObjectStore(tmp_path, 10**9, 0)
    assert again.open() == 1
    meta = again.index[digest]
    assert (meta.length, meta.chunks.complete, meta.url) == (3 * MIB + 5, True, "http://cdn/a")
    assert not store.folder(broken).exists()
    assert not orphan.exists()


def test_room_is_made_by_least_recent_use_sparing_pinned_and_busy(tmp_path: Path) -> None:
    store = _Disk(tmp_path, 10 * MIB, 0)
    store.open()
    old = _object(store, "old", 3 * MIB, 1.0)
    pinned = _object(store, "pinned", 3 * MIB, 0.5, pinned="nuit")
    busy = _object(store, "busy", 2 * MIB, 0.7)
    recent = _object(store, "recent", 2 * MIB, 9.0)
    assert store.make_room(2 * MIB, busy={busy}) == [old]
    assert set(store.index) == {pinned, busy, recent}
    with pytest.raises(OSError, match="cache full"):
        store.make_room(8 * MIB, busy={busy})


def test_the_free_space_floor_is_kept(tmp_path: Path) -> None:
    store = _Disk(tmp_path, 10**9, min_free_bytes=50 * MIB)
    store.open()
    store.free = 53 * MIB
    first = _object(store, "first", 4 * MIB, 1.0)
    second = _object(store, "second", 4 * MIB, 2.0)
    # Far under the size limit, but 5 MiB more would leave less than 50 MiB free.
    assert store.make_room(5 * MIB, busy=set()) == [first]
    assert set(store.index) == {second}

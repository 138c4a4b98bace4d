"""The PERSONNEL space on disk: nothing readable, nothing partial (#7.30, #8.6, rule 3)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from appliance import agefile
from storage.personnel import (
    Entry,
    Index,
    PersonnelSpace,
    SpaceError,
    clean_path,
    padme,
)

CANARY_NAME = "journal-intime-b7f3c2"
CANARY_TEXT = b"secret-de-lina-9d41e8"


def test_padme_hides_exact_sizes_within_twelve_percent() -> None:
    for length in (1, 2, 3, 100, 1000, 4097, 65_537, 10**6, 10**9):
        padded = padme(length)
        assert length <= padded <= length * 1.12 + 1
    sizes = {padme(n) for n in range(1_000_000, 1_010_000)}
    assert len(sizes) < 20  # ten thousand sizes fall into a handful of buckets


@pytest.mark.parametrize(
    "bad", ["", "/", "..", "a/../../etc", "a/\0b", "a\\b", "x" * 300, "a/" * 600, "a/\nb"]
)
def test_odd_paths_are_refused(bad: str) -> None:
    with pytest.raises(SpaceError):
        clean_path(bad)


def test_paths_are_normalised() -> None:
    assert clean_path("/Devoirs//maths/./exo.pdf/") == "Devoirs/maths/exo.pdf"


def _space(tmp_path: Path) -> tuple[PersonnelSpace, str]:
    identity = agefile.generate_identity()
    return PersonnelSpace(tmp_path, "l.bernard", agefile.recipient_of(identity)), identity


def test_round_trip_and_nothing_readable_on_disk(tmp_path: Path) -> None:
    space, identity = _space(tmp_path)
    content = CANARY_TEXT * 5000 + os.urandom(1000)
    blob, size = space.write_blob(io.BytesIO(content), 10**9)
    index = Index()
    index.files[f"Carnet/{CANARY_NAME}.txt"] = Entry(blob, size, 0.0)
    space.save_index(index)
    out = bytearray()
    space.read_blob(
        space.load_index(identity).files[f"Carnet/{CANARY_NAME}.txt"], identity, out.extend
    )
    assert bytes(out) == content
    for path in tmp_path.rglob("*"):
        assert CANARY_NAME not in str(path)
        if path.is_file():
            data = path.read_bytes()
            assert CANARY_TEXT not in data
            assert CANARY_NAME.encode() not in data
            assert b"Carnet" not in data
    assert space.stored_bytes() >= padme(len(content))
    # Another identity opens nothing.
    with pytest.raises(SpaceError):
        space.load_index(agefile.generate_identity())


class _Broken:
    """An upload that fails half-way (a dropped connection)."""

    def __init__(self) -> None:
        self.sent = 0

    def read(self, size: int = -1, /) -> bytes:
        if self.sent > 200_000:
            raise ConnectionError("dropped")
        self.sent += 65536
        return b"x" * 65536


def test_an_interrupted_upload_leaves_no_blob(tmp_path: Path) -> None:
    space, _ = _space(tmp_path)
    with pytest.raises(ConnectionError):
        space.write_blob(_Broken(), 10**9)
    assert list((space.folder / "b").iterdir()) == []


def test_quota_is_enforced_while_streaming(tmp_path: Path) -> None:
    space, _ = _space(tmp_path)
    with pytest.raises(SpaceError, match="Espace plein"):
        space.write_blob(io.BytesIO(b"x" * 300_000), 200_000)
    assert list((space.folder / "b").iterdir()) == []


def test_orphan_blobs_are_collected(tmp_path: Path) -> None:
    space, identity = _space(tmp_path)
    kept, size = space.write_blob(io.BytesIO(b"kept"), 100)
    space.write_blob(io.BytesIO(b"orphan"), 100)
    index = Index({"a.txt": Entry(kept, size, 0.0)})
    assert space.collect_garbage(index, older_than=-1) == 1
    assert [p.name for p in (space.folder / "b").iterdir()] == [kept]
    space.erase()
    assert not space.folder.exists()
    del identity


def test_index_changes_from_many_threads_are_never_lost(tmp_path: Path) -> None:
    # The web API and WebDAV's threads change the same index: every change must stay.
    from concurrent.futures import ThreadPoolExecutor

    space, identity = _space(tmp_path)

    def add(number: int) -> None:
        space.change_index(identity, lambda index: index.put(f"f{number}.txt", Entry("b", 1, 0.0)))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(80)))
    assert len(space.load_index(identity).files) == 80

"""The compiled list's format: compact, exact for listed names, and the old format still read.

#15 (CARMO #7.2 filtering on the box's own hardware): the filter must stay
within 100 MB on a 1 GiB Pi with UT1's 5.5 M names, and a lookup faults in
the pages it reads, so the artifact's size per name is the filter's memory.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest

from filter.compiled_list import (
    MAGIC,
    CompiledList,
    bucket_bits,
    compile_list,
    name_hash,
)
from filter.lists import ListError

CATEGORIES = ("adult", "gambling", "malware", "games")


def names(count: int, seed: int, suffix: str = "test") -> list[bytes]:
    rng = random.Random(seed)
    return [f"n{rng.getrandbits(64):x}.{suffix}".encode() for _ in range(count)]


def write(tmp_path: Path, data: bytes, stem: str = "list") -> CompiledList:
    path = tmp_path / f"{stem}.pfl"
    path.write_bytes(data)
    return CompiledList(stem, path)


def old_format(entries: dict[bytes, tuple[str, ...]]) -> bytes:
    """Write the first format (``PREAUFL1``) as the previous version did, without its code."""
    categories = sorted({c for cats in entries.values() for c in cats})
    sets: list[tuple[int, ...]] = [()]
    rows = []
    for name, cats in entries.items():
        members = tuple(sorted(categories.index(c) for c in cats))
        if members not in sets:
            sets.append(members)
        rows.append((name_hash(name), sets.index(members)))
    rows.sort()
    header = json.dumps(
        {"categories": categories, "sets": [list(s) for s in sets], "count": len(rows)}
    ).encode()
    padding = (-(8 + 4 + len(header))) % 8
    return b"".join(
        (
            b"PREAUFL1",
            struct.pack("<I", len(header) + padding),
            header + b" " * padding,
            b"".join(struct.pack("<Q", h) for h, _ in rows),
            b"".join(struct.pack("<H", s) for _, s in rows),
        )
    )


def assert_answers(
    compiled: CompiledList, expected: dict[bytes, tuple[str, ...]], unlisted: list[bytes]
) -> None:
    """Check every listed name's categories, and that no unlisted name matches."""
    for name, cats in expected.items():
        assert set(compiled.categories_of(name)) == set(cats)
    # A false match is about one lookup in 10⁹, so none here (the seeds are fixed).
    assert not any(compiled.categories_of(name) for name in unlisted)


def test_every_listed_name_answers_its_categories_and_others_nothing(tmp_path: Path) -> None:
    listed = names(50_000, seed=1)
    expected = {name: (CATEGORIES[i % 3],) for i, name in enumerate(listed)}
    for name in listed[:500]:  # in two categories
        expected[name] = (expected[name][0], "games")
    chunks = [(c, [n for n, cats in expected.items() if c in cats]) for c in CATEGORIES]
    compiled = write(tmp_path, compile_list(chunks, {"name": "ut1"}))
    try:
        assert compiled.count == 50_000
        assert_answers(compiled, expected, names(50_000, seed=2))
    finally:
        compiled.close()


def test_the_artifact_takes_about_five_bytes_a_name(tmp_path: Path) -> None:
    data = compile_list([("adult", names(200_000, seed=3))], {"name": "ut1"})
    assert data[:8] == MAGIC
    # 4-byte remainder + 1-byte set id + a 4-byte offset per ~6 names; the first
    # format took 10 bytes a name (55 MB for UT1, over the filter's budget).
    assert len(data) < 5.8 * 200_000
    header = json.loads(data[12 : 12 + struct.unpack_from("<I", data, 8)[0]])
    assert header["set_width"] == 1
    assert header["bucket_bits"] == bucket_bits(200_000)


def test_bucket_bits_keep_buckets_small_up_to_ut1() -> None:
    assert bucket_bits(0) == 0
    assert bucket_bits(3) == 0
    assert bucket_bits(5_500_000) == 20  # UT1: 4 MB of offsets, ~5 names a bucket
    for count in (1_000, 70_000, 5_500_000):
        assert 2 <= count / 2 ** bucket_bits(count) <= 8


def test_more_than_256_category_sets_take_two_bytes_a_name(tmp_path: Path) -> None:
    # 24 categories, a name in each pair of them: 276 distinct sets.
    categories = [f"c{i}" for i in range(24)]
    pairs = [(a, b) for i, a in enumerate(categories) for b in categories[i + 1 :]]
    chunks = []
    for index, (a, b) in enumerate(pairs):
        name = f"pair{index}.test".encode()
        chunks += [(a, [name]), (b, [name])]
    data = compile_list(chunks, {"name": "many"})
    assert json.loads(data[12 : 12 + struct.unpack_from("<I", data, 8)[0]])["set_width"] == 2
    compiled = write(tmp_path, data)
    try:
        for index, (a, b) in enumerate(pairs):
            assert set(compiled.categories_of(f"pair{index}.test".encode())) == {a, b}
    finally:
        compiled.close()


def test_a_list_compiled_by_the_previous_version_still_filters(tmp_path: Path) -> None:
    listed = names(2_000, seed=4)
    entries = {name: ("adult",) if i % 2 else ("adult", "malware") for i, name in enumerate(listed)}
    compiled = write(tmp_path, old_format(entries), "ancienne")
    try:
        assert_answers(compiled, entries, names(2_000, seed=5))
    finally:
        compiled.close()


def test_an_empty_list_answers_nothing(tmp_path: Path) -> None:
    compiled = write(tmp_path, compile_list([], {"name": "vide"}))
    try:
        assert compiled.count == 0
        assert compiled.categories_of(b"example.test") == ()
    finally:
        compiled.close()


def _header_end(data: bytes) -> int:
    return 12 + struct.unpack_from("<I", data, 8)[0]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("offsets-fall", "table des compartiments invalide"),
        ("offsets-overrun", "table des compartiments invalide"),
        ("set-id", "ensemble de catégories absent"),
        ("bucket-bits", "bucket_bits invalide"),
        ("truncated", "la taille ne correspond pas"),
    ],
)
def test_a_damaged_artifact_is_refused_when_opened(
    tmp_path: Path, damage: str, reason: str
) -> None:
    data = bytearray(compile_list([("adult", names(1_000, seed=6))], {"name": "t"}))
    start = _header_end(data)
    header = json.loads(data[12:start])
    buckets = (1 << header["bucket_bits"]) + 1
    if damage == "offsets-fall":
        struct.pack_into("<I", data, start + 4 * 10, 0xFFFF)
    elif damage == "offsets-overrun":
        struct.pack_into("<I", data, start + 4 * (buckets - 1), 5_000)
    elif damage == "set-id":
        data[-1] = 200
    elif damage == "bucket-bits":
        text = data[12:start].replace(b'"bucket_bits": 7,', b'"bucket_bits":99,')
        data[12:start] = text
    else:
        del data[-3:]
    path = tmp_path / "abime.pfl"
    path.write_bytes(bytes(data))
    with pytest.raises(ListError, match=reason):
        CompiledList("abime", path)

"""Byte ranges and chunk bitmaps: the arithmetic every cached answer rests on (issue #6 scope 3)."""

from __future__ import annotations

import pytest

from cache.chunks import (
    ChunkMap,
    RangeNotSatisfiable,
    content_range,
    parse_content_range,
    parse_range,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 100)),
        ("bytes=100-", (100, 1000)),
        ("bytes=-100", (900, 1000)),
        ("bytes=-5000", (0, 1000)),
        ("bytes=990-5000", (990, 1000)),
        ("bytes=0-0", (0, 1)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole object is a valid answer
        ("items=0-1", None),
        ("bytes=a-b", None),
        ("bytes=5-1", None),
        ("bytes=", None),
    ],
)
def test_range_headers(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_ranges_past_the_end_are_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


def test_content_range_both_ways() -> None:
    assert content_range(10, 20, 100) == "bytes 10-19/100"
    assert parse_content_range("bytes 10-19/100") == (10, 20, 100)
    for bad in (None, "", "bytes 10-19/*", "bytes 20-10/100", "bytes 0-100/100", "pages 0-1/2"):
        assert parse_content_range(bad) is None


def test_chunk_map_tracks_present_runs_and_round_trips() -> None:
    chunks = ChunkMap(10 * 1024 + 5, 1024)
    assert chunks.count == 11
    assert chunks.span(10) == (10 * 1024, 10 * 1024 + 5)
    for index in (0, 1, 2, 5, 10):
        chunks.mark(index)
    assert chunks.present_from(0) == 3 * 1024
    assert chunks.present_from(1500) == 3 * 1024
    assert chunks.present_from(3 * 1024) == 3 * 1024  # chunk 3 is missing
    assert chunks.present_from(10 * 1024) == 10 * 1024 + 5
    assert chunks.missing_from(0) == (3, 5)
    assert chunks.missing_from(6) == (6, 10)
    assert chunks.present_bytes() == 4 * 1024 + 5
    chunks.mark(10)  # again: counted once
    assert chunks.present_bytes() == 4 * 1024 + 5
    assert not chunks.complete
    durable = ChunkMap(chunks.length, 1024)
    durable.assign(chunks.copy())
    assert (durable.bits, durable.present_bytes()) == (chunks.bits, 4 * 1024 + 5)
    chunks.mark(3)
    assert durable.present_bytes() == 4 * 1024 + 5  # a copy, not a view
    again = ChunkMap.from_text(chunks.length, 1024, chunks.to_text())
    assert again.bits == chunks.bits
    for index in range(11):
        again.mark(index)
    assert again.complete
    assert again.missing_from(0) is None
    with pytest.raises(IndexError):
        again.mark(11)
    with pytest.raises(ValueError, match="bitmap"):
        ChunkMap.from_text(5000, 1024, "AAAA")

"""Chunk bitmaps and byte ranges: which parts of an object are on disk.

An object is cut into fixed chunks (1 MiB by default). A chunk is *present*
once all its bytes are written; the bitmap of present chunks is what survives
a restart. Byte ranges are half-open ``(start, end)`` pairs throughout; HTTP's
inclusive ``bytes=a-b`` only appears in :func:`parse_range` and
:func:`content_range`.
"""

from __future__ import annotations

import base64
import re
from typing import Final

DEFAULT_CHUNK: Final = 1 << 20
_SPEC: Final = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)


class RangeNotSatisfiable(ValueError):
    """A Range header that selects no byte of the object (answer 416)."""


def parse_range(header: str | None, length: int) -> tuple[int, int] | None:
    """Return the one byte range ``header`` asks for, or None for the whole object.

    Several ranges, or a header that cannot be parsed, also give None: the
    whole object is a valid answer to those (RFC 9110 §14.2).
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    matched = _SPEC.fullmatch(spec.strip())
    if matched is None or matched.group(0) == "-":
        return None
    first, last = matched.groups()
    if first == "":
        suffix = int(last)
        if suffix <= 0:
            raise RangeNotSatisfiable(header)
        return max(0, length - suffix), length
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= length:
        raise RangeNotSatisfiable(header)
    return start, length if last == "" else min(int(last) + 1, length)


def content_range(start: int, end: int, length: int) -> str:
    """Return the Content-Range value for bytes ``[start, end)``."""
    return f"bytes {start}-{end - 1}/{length}"


def parse_content_range(value: str | None) -> tuple[int, int, int] | None:
    """Parse ``bytes a-b/length`` into ``(start, end, length)``; None if malformed."""
    if not value:
        return None
    unit, _, rest = value.strip().partition(" ")
    span, _, total = rest.partition("/")
    first, _, last = span.partition("-")
    try:
        start, end, length = int(first), int(last) + 1, int(total)
    except ValueError:
        return None
    if unit.lower() != "bytes" or not 0 <= start < end <= length:
        return None
    return start, end, length


class ChunkMap:
    """Which chunks of an object of ``length`` bytes are present.

    The number of present chunks is kept as chunks are marked, so the size on
    disk and completeness cost nothing however large the object (the
    eviction and the metrics ask for them across every object).
    """

    __slots__ = ("_present", "bits", "chunk_size", "length")

    def __init__(
        self, length: int, chunk_size: int = DEFAULT_CHUNK, bits: bytearray | None = None
    ) -> None:
        """Start empty, or from a saved bitmap."""
        if length < 0 or chunk_size <= 0:
            raise ValueError("length and chunk size must be positive")
        self.length = length
        self.chunk_size = chunk_size
        wanted = (self.count + 7) // 8
        if bits is not None and len(bits) != wanted:
            raise ValueError("bitmap does not match the object's length")
        self.bits = bits if bits is not None else bytearray(wanted)
        self._present = int.from_bytes(self.bits, "big").bit_count()

    def copy(self) -> ChunkMap:
        """Return an independent copy."""
        return ChunkMap(self.length, self.chunk_size, bytearray(self.bits))

    def assign(self, other: ChunkMap) -> None:
        """Take ``other``'s chunks (an object's durable bitmap catching up)."""
        if (other.length, other.chunk_size) != (self.length, self.chunk_size):
            raise ValueError("bitmaps of different objects")
        self.bits[:] = other.bits
        self._present = other._present

    @property
    def count(self) -> int:
        """Return how many chunks the object has."""
        return -(-self.length // self.chunk_size)

    def span(self, index: int) -> tuple[int, int]:
        """Return the byte range of chunk ``index``."""
        start = index * self.chunk_size
        return start, min(start + self.chunk_size, self.length)

    def index_of(self, offset: int) -> int:
        """Return the chunk holding byte ``offset``."""
        return offset // self.chunk_size

    def has(self, index: int) -> bool:
        """Return whether chunk ``index`` is present."""
        return bool(self.bits[index >> 3] & (1 << (index & 7)))

    def mark(self, index: int) -> None:
        """Record chunk ``index`` as present."""
        if not 0 <= index < self.count:
            raise IndexError(index)
        if not self.has(index):
            self.bits[index >> 3] |= 1 << (index & 7)
            self._present += 1

    @property
    def complete(self) -> bool:
        """Return whether every chunk is present."""
        return self._present == self.count

    def present_bytes(self) -> int:
        """Return how many bytes of the object are present."""
        if not self._present:
            return 0
        last = self.count - 1
        short = self.chunk_size - (self.span(last)[1] - self.span(last)[0])
        return self._present * self.chunk_size - (short if self.has(last) else 0)

    def present_from(self, offset: int) -> int:
        """Return the end of the run of present bytes that starts at ``offset``."""
        index = self.index_of(offset)
        while index < self.count and self.has(index):
            index += 1
        return max(offset, min(index * self.chunk_size, self.length))

    def missing_from(self, index: int, stop: int | None = None) -> tuple[int, int] | None:
        """Return the first run of missing chunks ``[a, b)`` at or after ``index``."""
        stop = self.count if stop is None else min(stop, self.count)
        while index < stop and self.has(index):
            index += 1
        if index >= stop:
            return None
        end = index
        while end < stop and not self.has(end):
            end += 1
        return index, end

    def to_text(self) -> str:
        """Return the bitmap as base64 (for the object's metadata file)."""
        return base64.b64encode(bytes(self.bits)).decode()

    @classmethod
    def from_text(cls, length: int, chunk_size: int, text: str) -> ChunkMap:
        """Rebuild a bitmap saved by :meth:`to_text`."""
        return cls(length, chunk_size, bytearray(base64.b64decode(text, validate=True)))

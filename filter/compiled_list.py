"""The compiled list: one artifact, written once, memory-mapped, looked up without objects per name.

A list of names (UT1: 5.5 M) becomes one file the filter maps read-only. Its
size is the filter's memory under load, since a lookup faults in the pages it
reads (#15: the filter within 100 MB on a 1 GiB Pi), so the format is compact:

- each name is hashed (BLAKE2b, 64 bits) and only its top ``bits + 32`` bits
  are kept, ``bits`` growing with the list (20 for UT1's 5.5 M names) so that
  an unlisted name falsely matches about once in 10⁹ lookups, whatever the
  size of the list;
- the top ``bits`` choose a bucket: a table of ``2**bits + 1`` 32-bit offsets
  says where each bucket starts in the sorted array of the 32-bit remainders,
  and a lookup bisects only its bucket (five names on average);
- one category-set id per name, one byte when the list has at most 256
  distinct sets of categories (every real list seen), else two.

UT1 takes 4 + 22 + 5.5 MB, against 55 MB for the first format (``PREAUFL1``:
sorted 64-bit hashes and 16-bit set ids), which is still read so that a box
upgraded with lists compiled by an older version filters on until the next
update. Every part of the header is checked when the file is opened, so a
damaged or hostile file is refused with :class:`ListError` there and never
crashes a lookup (``tests/fuzz/fuzz_lists.py``).
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import mmap
import operator
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from appliance.i18n import N_
from filter.lists import ListError

MAGIC: Final = b"PREAUFL2"
MAGIC_V1: Final = b"PREAUFL1"
REMAINDER_BITS: Final = 32
MAX_BUCKET_BITS: Final = 24
_MASK: Final = (1 << REMAINDER_BITS) - 1


def name_hash(name: bytes) -> int:
    """Return the 64-bit hash of a name."""
    return int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "little")


def bucket_bits(entries: int) -> int:
    """Return the bucket bits for a list of ``entries`` names (about 4 to 8 a bucket)."""
    return max(0, min(MAX_BUCKET_BITS, entries.bit_length() - 3))


def compile_list(chunks: Iterable[tuple[str, list[bytes]]], meta: dict[str, object]) -> bytes:
    """Compile (category, names) chunks into an artifact (needs numpy).

    Memory, for the full UT1 list on a 1 GiB box where the services run: the
    names are hashed block by block as they are read (no list of all names),
    and the keys are sorted once, by one stable argsort, then deduplicated in
    place of ``np.unique`` (which sorts again): about 8 bytes a name held
    three times at the peak. Two names whose kept bits are equal become one
    entry with both names' categories.
    """
    import numpy as np

    category_ids: dict[str, int] = {}
    digests = bytearray()
    cats = bytearray()
    for category, names in chunks:
        cid = category_ids.setdefault(category, len(category_ids))
        if cid > 255:
            raise ListError(N_("plus de 256 catégories dans une même liste"))
        digests += b"".join([hashlib.blake2b(name, digest_size=8).digest() for name in names])
        cats += bytes([cid]) * len(names)
    bits = bucket_bits(len(cats))
    keys = np.frombuffer(digests, dtype="<u8") >> np.uint64(64 - bits - REMAINDER_BITS)
    categories = np.frombuffer(cats, dtype=np.uint8)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    categories = categories[order]
    del order, digests, cats
    starts = np.ones(len(keys), dtype=bool)
    starts[1:] = keys[1:] != keys[:-1]
    first = np.flatnonzero(starts)
    unique = keys[first]
    del keys, starts
    counts = np.diff(np.append(first, len(categories)))
    set_ids = np.zeros(len(unique), dtype="<u2")
    sets: list[tuple[int, ...]] = [()]
    set_index: dict[tuple[int, ...], int] = {}
    singles = counts == 1
    # Most names are in one category: one set per category, vectorised.
    for cid in range(len(category_ids)):
        set_index[(cid,)] = len(sets)
        sets.append((cid,))
    single_ids = np.array([set_index[(c,)] for c in range(len(category_ids))] or [0], dtype="<u2")
    if len(category_ids):
        set_ids[singles] = single_ids[categories[first[singles]]]
    for position in np.nonzero(~singles)[0]:
        start = int(first[position])
        members = tuple(sorted({int(c) for c in categories[start : start + int(counts[position])]}))
        index = set_index.get(members)
        if index is None:
            index = set_index[members] = len(sets)
            sets.append(members)
        set_ids[position] = index
    if len(sets) > 65_535:
        raise ListError(N_("trop d'ensembles de catégories distincts"))
    del first, counts, singles, categories
    width = 1 if len(sets) <= 256 else 2
    offsets = np.searchsorted(
        unique >> np.uint64(REMAINDER_BITS), np.arange((1 << bits) + 1, dtype=np.uint64)
    )
    header = json.dumps(
        {
            **meta,
            "categories": list(category_ids),
            "sets": [list(members) for members in sets],
            "count": len(unique),
            "bucket_bits": bits,
            "set_width": width,
        },
        ensure_ascii=False,
    ).encode()
    padding = (-(len(MAGIC) + 4 + len(header))) % 8
    return b"".join(
        (
            MAGIC,
            struct.pack("<I", len(header) + padding),
            header,
            b" " * padding,
            offsets.astype("<u4").tobytes(),
            (unique & np.uint64(_MASK)).astype("<u4").tobytes(),
            set_ids.astype("u1" if width == 1 else "<u2").tobytes(),
        )
    )


def _header_int(meta: dict[str, object], key: str, low: int, high: int) -> int:
    value = meta.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ListError(N_("en-tête : %(key)s invalide"), key=key)
    return value


class CompiledList:
    """A memory-mapped artifact: name → categories, a bisect within one bucket."""

    def __init__(self, name: str, path: Path) -> None:
        """Map ``path`` read-only; raise ListError if it is not an artifact."""
        self.name = name
        self.path = path
        try:
            with path.open("rb") as handle:
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as err:
            raise ListError(
                N_("%(path)s : lecture impossible (%(reason)s)"), path=path, reason=err
            ) from err
        try:
            self._load()
        except (ListError, ValueError, KeyError, TypeError, struct.error) as err:
            self._map.close()
            raise ListError(
                N_("%(path)s : ce n'est pas une liste compilée par Préau (%(reason)s)"),
                path=path,
                reason=err,
            ) from err

    def _load(self) -> None:
        view = memoryview(self._map)
        try:
            self._parse(view)
        except BaseException:
            for attr in ("_offsets", "_keys", "_sets"):
                part = getattr(self, attr, None)
                if isinstance(part, memoryview):
                    part.release()
            raise
        finally:
            view.release()  # the slices keep what they need

    def _parse(self, view: memoryview) -> None:
        magic = bytes(view[:8])
        if magic not in (MAGIC, MAGIC_V1):
            raise ListError(N_("signature de fichier inconnue"))
        header_len = struct.unpack_from("<I", view, 8)[0]
        meta = json.loads(bytes(view[12 : 12 + header_len]))
        # A damaged or hostile file must be refused here, never crash a lookup
        # later (the fuzzer found a header that was not an object).
        if not isinstance(meta, dict):
            raise ListError(N_("l'en-tête n'est pas un objet"))
        count = _header_int(meta, "count", 0, 1 << 32)
        categories, sets = meta.get("categories"), meta.get("sets")
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise ListError(N_("en-tête : catégories invalides"))
        if not isinstance(sets, list) or not all(
            isinstance(members, list)
            and all(
                isinstance(cid, int) and not isinstance(cid, bool) and 0 <= cid < len(categories)
                for cid in members
            )
            for members in sets
        ):
            raise ListError(N_("en-tête : ensembles de catégories invalides"))
        start = 12 + header_len
        if magic == MAGIC_V1:
            # Sorted 64-bit hashes, one bucket: the same lookup with no shift.
            bits, width, key_size, self._shift, self._remainder_bits = 0, 2, 8, 0, 64
        else:
            bits = _header_int(meta, "bucket_bits", 0, MAX_BUCKET_BITS)
            width = _header_int(meta, "set_width", 1, 2)
            key_size, self._shift = 4, 64 - bits - REMAINDER_BITS
            self._remainder_bits = REMAINDER_BITS
        self._mask = (1 << self._remainder_bits) - 1
        offsets_len = 0 if magic == MAGIC_V1 else 4 * ((1 << bits) + 1)
        end_keys = start + offsets_len + key_size * count
        if end_keys + width * count != len(view):
            raise ListError(N_("la taille ne correspond pas à l'en-tête"))
        self.meta: dict[str, object] = meta
        self._offsets: memoryview | tuple[int, int] = (0, count)
        if offsets_len:
            self._offsets = offsets = view[start : start + offsets_len].cast("I")
            # Bisect bounds come from here: they must rise from 0 to count.
            if (
                offsets[0] != 0
                or offsets[-1] != count
                or not all(map(operator.le, offsets, offsets[1:]))
            ):
                raise ListError(N_("table des compartiments invalide"))
        self._keys = view[start + offsets_len : end_keys].cast("Q" if key_size == 8 else "I")
        self._sets = view[end_keys:].cast("B" if width == 1 else "H")
        # Every set id is read once here, in C, and the pages the checks
        # touched are handed back: a lookup faults in only what it reads, so
        # the filter holds its working set, not the whole list.
        if count and max(self._sets) >= len(sets):
            raise ListError(N_("un nom désigne un ensemble de catégories absent de l'en-tête"))
        self._release(start, len(view) - start)
        self.categories: list[str] = categories
        self._set_names: list[tuple[str, ...]] = [
            tuple(categories[cid] for cid in members) for members in sets
        ]
        self.count = count

    def _release(self, offset: int, length: int) -> None:
        """Drop the mapped pages of a part from this process (the page cache keeps them)."""
        page = mmap.PAGESIZE
        first = offset // page * page
        with contextlib.suppress(OSError, ValueError):  # advice only
            self._map.madvise(mmap.MADV_DONTNEED, first, offset + length - first)

    def categories_of(self, name: bytes) -> tuple[str, ...]:
        """Return the categories listing exactly ``name`` (not its parents)."""
        key = name_hash(name) >> self._shift
        bucket = key >> self._remainder_bits
        remainder = key & self._mask
        keys = self._keys
        high = self._offsets[bucket + 1]
        index = bisect.bisect_left(keys, remainder, self._offsets[bucket], high)
        if index < high and keys[index] == remainder:
            return self._set_names[self._sets[index]]
        return ()

    def close(self) -> None:
        """Unmap the artifact (after the last lookup)."""
        for part in (self._offsets, self._keys, self._sets):
            if isinstance(part, memoryview):
                part.release()
        self._map.close()

"""The compiled list, read: one artifact memory-mapped, looked up without objects per name.

:func:`filter.lists.compile_list` writes the artifact (magic, a JSON header,
sorted 64-bit name hashes, one category-set id per name); this module maps it
read-only and answers "which categories list exactly this name" by binary
search. Every part of the header is checked when the file is opened, so a
damaged or hostile file is refused with :class:`ListError` there and never
crashes a lookup (``tests/fuzz/fuzz_lists.py``).
"""

from __future__ import annotations

import array
import bisect
import contextlib
import json
import mmap
import struct
from pathlib import Path

from appliance.i18n import N_
from filter.lists import MAGIC, ListError, name_hash


class CompiledList:
    """A memory-mapped artifact: name → categories in O(log n), no objects per name."""

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
        except (ListError, ValueError, KeyError, struct.error) as err:
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
            for attr in ("_hashes", "_sets"):
                part = getattr(self, attr, None)
                if part is not None:
                    part.release()
            raise
        finally:
            view.release()  # the slices keep what they need

    def _parse(self, view: memoryview) -> None:
        if bytes(view[:8]) != MAGIC:
            raise ListError(N_("signature de fichier inconnue"))
        header_len = struct.unpack_from("<I", view, 8)[0]
        meta = json.loads(bytes(view[12 : 12 + header_len]))
        # A damaged or hostile file must be refused here, never crash a lookup
        # later (the fuzzer found a header that was not an object).
        if not isinstance(meta, dict):
            raise ListError(N_("l'en-tête n'est pas un objet"))
        count, categories, sets = meta.get("count"), meta.get("categories"), meta.get("sets")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ListError(N_("en-tête : nombre de noms invalide"))
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
        self.meta: dict[str, object] = meta
        start = 12 + header_len
        end_hashes = start + 8 * count
        if end_hashes + 2 * count != len(view):
            raise ListError(N_("la taille ne correspond pas à l'en-tête"))
        self._hashes = view[start:end_hashes].cast("Q")
        self._sets = view[end_hashes : end_hashes + 2 * count].cast("H")
        # Every set id is read once here, in C (array's max; no numpy: 15 MB a
        # process), and the pages the check touched are handed back: a lookup
        # faults in only what it reads, so the filter holds its working set,
        # not the whole list (#15: the filter within 100 MB on a 1 GiB Pi).
        ids = array.array("H")
        ids.frombytes(view[end_hashes : end_hashes + 2 * count])
        if count and max(ids) >= len(sets):
            raise ListError(N_("un nom désigne un ensemble de catégories absent de l'en-tête"))
        del ids
        self._release(start, 10 * count)
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
        key = name_hash(name)
        hashes = self._hashes
        index = bisect.bisect_left(hashes, key)
        if index < self.count and hashes[index] == key:
            return self._set_names[self._sets[index]]
        return ()

    def close(self) -> None:
        """Unmap the artifact (after the last lookup)."""
        self._hashes.release()
        self._sets.release()
        self._map.close()

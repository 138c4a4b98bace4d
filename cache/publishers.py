"""Publishers' hashes: what apt's indexes say the files they list must hash to.

Pure, except that the functions read a file already on disk (run them in the
executor). A ``Packages`` index (plain, gzip or xz, also under ``by-hash``)
lists ``Filename`` and ``SHA256`` for every package of a suite; a ``by-hash``
path names its own SHA-256. The cache checks a completed object against
either and drops it when it differs (apt would refuse it anyway; the next
device then gets the publisher's bytes).
"""

from __future__ import annotations

import gzip
import lzma
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final, TextIO

_BY_HASH: Final = re.compile(r"/by-hash/SHA256/([0-9a-f]{64})$")
_PACKAGES: Final = re.compile(
    r"/dists/.+/(binary-[^/]+/(Packages(\.gz|\.xz)?|by-hash/SHA256/[0-9a-f]{64}))$"
)


def hash_in_path(path: str) -> str:
    """Return the SHA-256 an apt ``by-hash`` path names, or ''."""
    found = _BY_HASH.search(path)
    return found.group(1) if found else ""


def is_packages_index(path: str) -> bool:
    """Return whether ``path`` is an apt Packages index (of a binary architecture)."""
    return _PACKAGES.search(path) is not None


def archive_root(path: str) -> str:
    """Return the part of an index's path before ``/dists/`` (``/debian``)."""
    return path.split("/dists/", 1)[0]


def _open_text(path: Path) -> TextIO:
    with path.open("rb") as probe:
        magic = probe.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


def packages_hashes(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (Filename, SHA256) from a Packages index on disk (plain, gzip or xz)."""
    filename = sha256 = ""
    with _open_text(path) as text:
        for line in text:
            if not line.strip():
                if filename and sha256:
                    yield filename, sha256
                filename = sha256 = ""
            elif line.startswith("Filename:"):
                filename = line.split(":", 1)[1].strip()
            elif line.startswith("SHA256:"):
                sha256 = line.split(":", 1)[1].strip().lower()
    if filename and sha256:
        yield filename, sha256

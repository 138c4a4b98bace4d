"""Fuzz target (atheris where it exists, hypothesis everywhere) for the compiled list reader.

Run by tests/fuzz/test_fuzz.py. A compiled list is mmap'd from disk by the
filter; a damaged or hostile file (a torn copy, a bad download) must be
refused with :class:`filter.lists.ListError` when it is opened, and a file
that opens must answer lookups without crashing. Each input is written to a
file in shared memory and opened, then looked up with names from the input.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fuzz.provider import instrumented, provider, run_target

with instrumented():
    from filter.compiled_list import CompiledList
    from filter.lists import ListError, suffixes

SCRATCH = Path(tempfile.mkdtemp(prefix="preau-fuzz-lists-", dir="/dev/shm"))
ARTIFACT = SCRATCH / "list.bin"


def one_input(data: bytes) -> None:
    """Open ``data`` as a compiled list; look names up if it opens."""
    source = provider(data)
    names = [source.ConsumeBytes(source.ConsumeIntInRange(0, 64)) for _ in range(3)]
    ARTIFACT.write_bytes(source.ConsumeBytes(source.remaining_bytes()))
    try:
        compiled = CompiledList("fuzz", ARTIFACT)
    except ListError:
        return
    try:
        for name in names:
            for suffix in suffixes(name.lower()):
                categories = compiled.categories_of(suffix)
                assert all(isinstance(category, str) for category in categories)
    finally:
        compiled.close()


if __name__ == "__main__":
    run_target(sys.argv, one_input)

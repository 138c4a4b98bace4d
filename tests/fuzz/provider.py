"""The fuzz targets' engines: atheris (libFuzzer, coverage-guided) or hypothesis.

atheris exists only for x86_64; the Pi target is arm64. Each target is a plain
``one_input(data)`` and reads its input through a provider with atheris's
method names, so the same target runs under libFuzzer where atheris exists and
under hypothesis everywhere (``tests/fuzz/test_fuzz.py`` runs both on x86_64).
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable
from types import ModuleType
from typing import Any

try:
    import atheris
except ImportError:  # arm64: no atheris wheel; hypothesis drives the targets
    atheris = None


class BytesProvider:
    """A pure-Python stand-in for ``atheris.FuzzedDataProvider`` (same method names)."""

    def __init__(self, data: bytes) -> None:
        """Read ``data`` from its start."""
        self._data = bytes(data)
        self._position = 0

    def remaining_bytes(self) -> int:
        """Return how many bytes are left."""
        return len(self._data) - self._position

    def ConsumeBytes(self, count: int) -> bytes:
        """Return up to ``count`` bytes."""
        taken = self._data[self._position : self._position + max(0, count)]
        self._position += len(taken)
        return taken

    def ConsumeIntInRange(self, low: int, high: int) -> int:
        """Return an integer in ``[low, high]``."""
        span = high - low
        if span <= 0:
            return low
        raw = self.ConsumeBytes((span.bit_length() + 7) // 8)
        return low + int.from_bytes(raw, "little") % (span + 1)

    def ConsumeUnicodeNoSurrogates(self, count: int) -> str:
        """Return up to ``count`` characters decoded from the next bytes."""
        return self.ConsumeBytes(count).decode("utf-8", "replace")[:count]


def provider(data: bytes) -> Any:
    """Return atheris's provider when atheris runs the target, else the stand-in."""
    return atheris.FuzzedDataProvider(data) if atheris is not None else BytesProvider(data)


def instrumented() -> contextlib.AbstractContextManager[Any]:
    """Instrument the imports for coverage under atheris; nothing otherwise."""
    return atheris.instrument_imports() if atheris is not None else contextlib.nullcontext()


def run_target(argv: list[str], one_input: Callable[[bytes], None]) -> None:
    """Run a target from its command line under libFuzzer (atheris only)."""
    if atheris is None:
        raise SystemExit("atheris is not installed here: run the target through pytest")
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def load_target(path: str) -> ModuleType:
    """Import a target script by path (for the hypothesis engine)."""
    spec = importlib.util.spec_from_file_location(f"fuzz_target_{abs(hash(path))}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

"""Apply the portal table and change its sets through nftables.

Blocking: callers run these in the bounded executor. Commands go to nftables
as one JSON batch, so a batch applies completely or not at all. In
production this runs in the small privileged unit holding ``CAP_NET_ADMIN``
and talks to the kernel in-process through ``libnftables`` (the library the
``nft`` command is built on): spawning ``nft`` costs 3-6 ms per login, more
than the whole budget of ``bench/portal.py``. The tests drive namespaces from
outside with ``prefix=["ip", "netns", "exec", NAME]``, which runs ``nft``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import subprocess
import threading
from collections.abc import Sequence
from typing import Any, Final

from captive_portal.ruleset import FAMILY, TABLE, KernelState, parse_seen_v6, parse_table

NFT: Final = "/usr/sbin/nft"
_OUTPUT_JSON: Final = 1 << 4  # NFT_CTX_OUTPUT_JSON: JSON out, and JSON in


class NftError(RuntimeError):
    """nftables refused a batch (the table is unchanged)."""


class _Library:
    """One libnftables context; calls are serialised (a context is not thread-safe)."""

    def __init__(self, path: str) -> None:
        lib = ctypes.CDLL(path)
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        self._lib = lib
        self._lock = threading.Lock()
        self._ctx = {}
        for json_mode in (False, True):
            ctx = lib.nft_ctx_new(0)
            if not ctx:
                raise NftError("libnftables: cannot create a context")
            if json_mode:
                lib.nft_ctx_output_set_flags(ctx, _OUTPUT_JSON)
            lib.nft_ctx_buffer_output(ctx)
            lib.nft_ctx_buffer_error(ctx)
            self._ctx[json_mode] = ctx

    def run(self, text: str, *, json_mode: bool) -> str:
        with self._lock:
            ctx = self._ctx[json_mode]
            code = self._lib.nft_run_cmd_from_buffer(ctx, text.encode())
            output = (self._lib.nft_ctx_get_output_buffer(ctx) or b"").decode()
            errors = (self._lib.nft_ctx_get_error_buffer(ctx) or b"").decode()
        if code != 0:
            raise NftError(errors.strip() or f"libnftables returned {code}")
        return output


def _find_library() -> str | None:
    return ctypes.util.find_library("nftables")


class NftTable:
    """The portal's table in one network namespace."""

    def __init__(self, prefix: Sequence[str] = (), *, in_process: bool | None = None) -> None:
        """Use libnftables in this process, or run ``nft`` under ``prefix``."""
        self._prefix = list(prefix)
        path = _find_library() if not self._prefix and in_process is not False else None
        if in_process and path is None:
            raise NftError("libnftables is not installed (package libnftables1)")
        self._library = _Library(path) if path else None

    def _run(self, text: str, *, json_mode: bool) -> str:
        if self._library is not None:
            return self._library.run(text, json_mode=json_mode)
        args = ["-j", "-f", "-"] if json_mode else ["-f", "-"]
        result = subprocess.run(
            [*self._prefix, NFT, *args],
            input=text,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if result.returncode != 0:
            raise NftError(result.stderr.strip() or f"nft exited {result.returncode}")
        return result.stdout

    def load(self, script: str) -> None:
        """Replace the portal table atomically with ``script``."""
        self._run(script, json_mode=False)

    def apply(self, commands: list[dict[str, Any]]) -> None:
        """Apply JSON commands as one atomic batch."""
        if commands:
            self._run(json.dumps({"nftables": commands}), json_mode=True)

    def state(self) -> KernelState:
        """Return what the table holds: counters, blocked and rate-limited clients."""
        listing = {"nftables": [{"list": {"table": {"family": FAMILY, "name": TABLE}}}]}
        return parse_table(json.loads(self._run(json.dumps(listing), json_mode=True)))

    def seen_v6(self) -> set[tuple[str, str]]:
        """Return the (MAC, IPv6) pairs of authorised devices seen recently (a small set)."""
        query = {"list": {"set": {"family": FAMILY, "table": TABLE, "name": "seen_v6"}}}
        return parse_seen_v6(
            json.loads(self._run(json.dumps({"nftables": [query]}), json_mode=True))
        )

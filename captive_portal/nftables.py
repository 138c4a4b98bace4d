"""Apply the portal table and change its sets with the ``nft`` command.

Blocking: callers run these in the bounded executor. Commands go to
``nft -j -f -`` as one JSON batch, so a batch applies completely or not at
all. In production this runs in the small privileged unit holding
``CAP_NET_ADMIN``; the tests run it inside network namespaces they create
(``prefix=["ip", "netns", "exec", NAME]``).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from typing import Any, Final

from captive_portal.ruleset import FAMILY, TABLE, ClientCounters, parse_counters

NFT: Final = "/usr/sbin/nft"


class NftError(RuntimeError):
    """nft refused a batch (the table is unchanged)."""


class NftTable:
    """The portal's table in one network namespace."""

    def __init__(self, prefix: Sequence[str] = ()) -> None:
        """Run nft under ``prefix`` (e.g. ``ip netns exec NAME``)."""
        self._prefix = list(prefix)

    def _run(self, args: list[str], stdin: str) -> str:
        result = subprocess.run(
            [*self._prefix, NFT, *args],
            input=stdin,
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
        self._run(["-f", "-"], script)

    def apply(self, commands: list[dict[str, Any]]) -> None:
        """Apply JSON commands as one atomic batch."""
        if commands:
            self._run(["-j", "-f", "-"], json.dumps({"nftables": commands}))

    def counters(self) -> list[ClientCounters]:
        """Return per-client byte counters of the authorised sets."""
        up = json.loads(self._run(["-j", "list", "set", FAMILY, TABLE, "auth_v4"], ""))
        down = json.loads(self._run(["-j", "list", "set", FAMILY, TABLE, "auth_v4_down"], ""))
        return parse_counters(up, down)

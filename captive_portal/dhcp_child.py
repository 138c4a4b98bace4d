"""The portal's dnsmasq child: one DHCP server, never two (issue #11).

dnsmasq runs in the foreground as a child of the portal. When the portal is
killed (``kill -9``, an OOM kill), dnsmasq is orphaned: a parent-death
signal cannot help, because the kernel clears it when dnsmasq drops root for
its own user. So its pid is written next to its config, and a portal that
starts finds a dnsmasq still running with that config and stops it before
starting its own: at no time do two DHCP servers answer. Under systemd the
unit's control group stops it with the portal anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from appliance.atomic import write_atomic
from captive_portal.dhcp import DNSMASQ

_LOGGER = logging.getLogger(__name__)

STOP_SECONDS: Final = 5.0


def stale_pid(pid_file: Path, conf: Path) -> int | None:
    """Return the pid of a dnsmasq still running with ``conf``, from ``pid_file``."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if cmdline and cmdline[0].endswith(b"dnsmasq") and f"--conf-file={conf}".encode() in cmdline:
        return pid
    return None


def _stop_stale(pid_file: Path, conf: Path) -> None:
    """Stop a dnsmasq an earlier portal left behind (blocking: run in the executor)."""
    pid = stale_pid(pid_file, conf)
    if pid is None:
        return
    _LOGGER.warning("Portal: stopping dnsmasq %d left by an earlier run", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while stale_pid(pid_file, conf) is not None:
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)


class DhcpChild:
    """Start and stop the portal's dnsmasq."""

    def __init__(self, conf: Path) -> None:
        """Keep the config path; the pid file lives beside it."""
        self.conf = conf
        self.pid_file = conf.with_suffix(".pid")
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, run_blocking: Callable[..., Awaitable[Any]]) -> None:
        """Stop a leftover dnsmasq with this config (in ``run_blocking``), then start ours."""
        await run_blocking(_stop_stale, self.pid_file, self.conf)
        self.process = await asyncio.create_subprocess_exec(
            DNSMASQ,
            "--keep-in-foreground",
            f"--conf-file={self.conf}",
            "--pid-file=",
            "--log-facility=-",
        )
        await run_blocking(write_atomic, self.pid_file, f"{self.process.pid}\n".encode())

    async def stop(self) -> None:
        """Stop dnsmasq and forget its pid."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()

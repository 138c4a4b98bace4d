"""A three-namespace lab for the cache: devices (lan), the appliance, a CDN origin (wan).

The origin (``tests/cache/origin.py``) runs in the WAN namespace behind a
``tc`` rate limit, the cache (``preau run cache``) in the appliance's, and
devices are ``curl`` processes in the LAN namespace. All addresses live in
these namespaces; nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PREAU, REPO, SchoolCA, make_config, write_config

LAN_DEVICE = "10.91.1.2"
CACHE_IP = "10.91.1.1"
WAN_SIDE = "10.91.2.1"
ORIGIN_IP = "10.91.2.2"
CACHE_PORT = 80
ORIGIN = REPO / "tests" / "cache" / "origin.py"
# Shipped rule names, pinned to the WAN namespace's origin by `cache.origins`.
WINDOWS = "download.windowsupdate.com"
DEBIAN = "deb.debian.org"
DELIVERY = "dl.delivery.mp.microsoft.com"


def run(*argv: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command, inside namespace ``ns`` if given."""
    full = ["/usr/sbin/ip", "netns", "exec", ns, *argv] if ns else list(argv)
    return subprocess.run(full, capture_output=True, text=True, check=check, timeout=120)


def wait_listening(ns: str, ip: str, port: int, timeout: float = 20.0) -> None:
    """Wait until something accepts on ``ip:port`` inside ``ns``."""
    code = f"import socket; socket.create_connection(({ip!r}, {port}), 0.2).close()"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run(sys.executable, "-c", code, ns=ns, check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing on {ip}:{port} in {ns}")


@dataclass
class Download:
    """What one device got."""

    code: int
    status: int
    size: int
    digest: str
    ttfb: float
    total: float
    headers: str = ""


@dataclass
class CacheLab:
    """The namespaces, the origin and the cache process."""

    tmp: Path
    lan: str
    appliance: str
    wan: str
    wan_if: str
    files: Path
    origin_log: Path
    origin: subprocess.Popen[bytes] | None = None
    cache: subprocess.Popen[bytes] | None = None
    config_path: Path | None = None
    cache_log: Path | None = None
    downloads: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    # -- origin ------------------------------------------------------------------------

    def add_file(self, name: str, size: int) -> bytes:
        """Put a random file on the origin; return its bytes."""
        data = os.urandom(size)
        (self.files / name).write_bytes(data)
        return data

    def origin_requests(self) -> list[dict[str, Any]]:
        """Return what the origin logged, one dict per request."""
        if not self.origin_log.exists():
            return []
        return [json.loads(line) for line in self.origin_log.read_text().splitlines()]

    def origin_seen(self) -> list[dict[str, Any]]:
        """Return every request that reached the origin (answered or not), with credentials."""
        seen = self.origin_log.with_name(self.origin_log.name + ".seen")
        if not seen.exists():
            return []
        return [json.loads(line) for line in seen.read_text().splitlines() if line]

    def origin_sent(self, path: str | None = None) -> int:
        """Return the body bytes the origin sent (for ``path`` only if given)."""
        return sum(r["sent"] for r in self.origin_requests() if path is None or r["path"] == path)

    def wan_bytes(self) -> tuple[int, int]:
        """Return (IP bytes, TCP payload bytes) that came in over the WAN link from origins.

        The payload is the IP bytes less 52 bytes of headers per packet (IPv4,
        TCP with timestamps): what the school's link carried for the objects.
        """
        listed = run("nft", "-j", "list", "table", "inet", "cachelab", ns=self.appliance)
        for item in json.loads(listed.stdout)["nftables"]:
            rule = item.get("rule")
            if rule is None:
                continue
            for expression in rule["expr"]:
                if "counter" in expression:
                    counter = expression["counter"]
                    return counter["bytes"], counter["bytes"] - 52 * counter["packets"]
        raise AssertionError("no WAN counter")

    def limit_wan(self, rate: str) -> None:
        """Limit what the origin sends to ``rate`` (tc tbf), as a school's link does."""
        run("tc", "qdisc", "replace", "dev", self.wan_if, "root", "tbf", "rate", rate,
            "burst", "64kb", "latency", "200ms", ns=self.wan)  # fmt: skip

    def cut_wan(self, down: bool) -> None:
        """Take the WAN link down (or bring it back)."""
        run("/usr/sbin/ip", "link", "set", self.wan_if, "down" if down else "up", ns=self.wan)

    # -- cache ---------------------------------------------------------------------------

    def configure(self, **cache: Any) -> Path:
        """Write the appliance config with a ``[cache]`` section."""
        origins = {name: ORIGIN_IP for name in (WINDOWS, DEBIAN, DELIVERY)}
        section: dict[str, Any] = {
            "enabled": True,
            "listen": [f"{CACHE_IP}:{CACHE_PORT}"],
            "origins": origins,
            "upstream_timeout_s": 2.0,
            "chunk_kib": 256,
        }
        section.update(cache)
        config = make_config(self.tmp / "data", cache=section, logging={"level": "DEBUG"})
        self.config_path = write_config(config, self.tmp / "preau.toml")
        return self.config_path

    def start_cache(self) -> None:
        """Start ``preau run cache`` in the appliance namespace and wait for it."""
        if self.config_path is None:
            self.configure()
        assert self.config_path is not None
        self.cache_log = self.tmp / "cache.log"
        with self.cache_log.open("ab") as log:
            self.cache = subprocess.Popen(
                ["/usr/sbin/ip", "netns", "exec", self.appliance, str(PREAU),
                 "--config", str(self.config_path), "run", "cache"],
                stdout=log, stderr=log,
            )  # fmt: skip
        wait_listening(self.appliance, CACHE_IP, CACHE_PORT)

    def stop_cache(self, sig: int = signal.SIGTERM) -> None:
        """Stop the cache (``SIGKILL`` to simulate a crash)."""
        if self.cache is not None and self.cache.poll() is None:
            self.cache.send_signal(sig)
            self.cache.wait(15)
        self.cache = None

    def cache_output(self) -> str:
        """Return what the cache logged."""
        return self.cache_log.read_text(errors="replace") if self.cache_log else ""

    # -- devices ---------------------------------------------------------------------------

    def _curl(self, url: str, out: Path, args: list[str]) -> list[str]:
        return [
            "/usr/sbin/ip", "netns", "exec", self.lan, "curl", "-sS", "--max-time", "120",
            "-D", f"{out}.headers", "-o", str(out),
            "-w", "%{http_code} %{time_starttransfer} %{time_total}", *args, url,
        ]  # fmt: skip

    def start_download(
        self,
        path: str,
        *,
        host: str = WINDOWS,
        byte_range: str = "",
        proxy: bool = False,
        extra: list[str] | None = None,
    ) -> tuple[subprocess.Popen[str], Path]:
        """Start one device's download; finish it with :meth:`finish`."""
        self.downloads += 1
        out = self.tmp / f"device-{self.downloads}.bin"
        args = list(extra or [])
        if proxy:
            args += ["--proxy", f"http://{CACHE_IP}:{CACHE_PORT}"]
        else:
            args += ["--resolve", f"{host}:80:{CACHE_IP}"]  # what DNS steering answers
        if byte_range:
            args += ["-r", byte_range]
        url = path if path.startswith("http") else f"http://{host}{path}"
        process = subprocess.Popen(
            self._curl(url, out, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        return process, out

    @staticmethod
    def finish(started: tuple[subprocess.Popen[str], Path]) -> Download:
        """Wait for a download; return what the device got."""
        process, out = started
        stdout, _ = process.communicate(timeout=180)
        parts = stdout.split()
        data = out.read_bytes() if out.exists() else b""
        headers = Path(f"{out}.headers")
        return Download(
            code=process.returncode,
            status=int(parts[0]) if parts else 0,
            size=len(data),
            digest=hashlib.sha256(data).hexdigest(),
            ttfb=float(parts[1]) if len(parts) > 1 else 0.0,
            total=float(parts[2]) if len(parts) > 2 else 0.0,
            headers=headers.read_text(errors="replace") if headers.exists() else "",
        )

    def download(self, path: str, **kwargs: Any) -> Download:
        """Download once and wait."""
        return self.finish(self.start_download(path, **kwargs))


@contextlib.contextmanager
def built_lab(tmp_path: Path, ca: SchoolCA | None = None) -> Iterator[CacheLab]:
    """Build lan ⇄ appliance ⇄ wan with the origin running (also used by bench/cache.py)."""
    tag = secrets.token_hex(3)
    lab = CacheLab(
        tmp=tmp_path, lan=f"cl{tag}", appliance=f"ca{tag}", wan=f"cw{tag}",
        wan_if=f"cw{tag}o", files=tmp_path / "origin-files", origin_log=tmp_path / "origin.jsonl",
    )  # fmt: skip
    lab.files.mkdir()
    ip = "/usr/sbin/ip"
    try:
        for ns in (lab.lan, lab.appliance, lab.wan):
            run(ip, "netns", "add", ns)
            run(ip, "link", "set", "lo", "up", ns=ns)
        run(ip, "link", "add", f"cl{tag}d", "netns", lab.lan, "type", "veth",
            "peer", "name", f"ca{tag}l", "netns", lab.appliance)  # fmt: skip
        run(ip, "link", "add", lab.wan_if, "netns", lab.wan, "type", "veth",
            "peer", "name", f"ca{tag}w", "netns", lab.appliance)  # fmt: skip
        for ns, name, address in (
            (lab.lan, f"cl{tag}d", f"{LAN_DEVICE}/24"),
            (lab.appliance, f"ca{tag}l", f"{CACHE_IP}/24"),
            (lab.appliance, f"ca{tag}w", f"{WAN_SIDE}/24"),
            (lab.wan, lab.wan_if, f"{ORIGIN_IP}/24"),
        ):
            run(ip, "addr", "add", address, "dev", name, ns=ns)
            run(ip, "link", "set", name, "up", ns=ns)
        run(ip, "route", "add", "default", "via", CACHE_IP, ns=lab.lan)
        # The WAN counter: what reaches the appliance from origins (port 80) on its WAN side.
        counter = (
            "table inet cachelab {\n chain input {\n  type filter hook input priority 0;\n"
            f'  iifname "ca{tag}w" tcp sport 80 counter\n }}\n}}\n'
        )
        subprocess.run(
            [ip, "netns", "exec", lab.appliance, "nft", "-f", "-"],
            input=counter, text=True, check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        lab.limit_wan("400mbit")
        tls = ["--tls-cert", str(ca.server_cert), "--tls-key", str(ca.server_key)] if ca else []
        lab.origin = subprocess.Popen(
            [ip, "netns", "exec", lab.wan, sys.executable, str(ORIGIN),
             "--root", str(lab.files), "--log", str(lab.origin_log), "--port", "80", *tls],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_listening(lab.wan, ORIGIN_IP, 80)
        yield lab
    finally:
        lab.stop_cache(signal.SIGKILL)
        if lab.origin is not None:
            lab.origin.kill()
            lab.origin.wait(10)
        for ns in (lab.lan, lab.appliance, lab.wan):
            run(ip, "netns", "del", ns, check=False)


@pytest.fixture
def cache_lab(tmp_path: Path, test_ca: SchoolCA) -> Iterator[CacheLab]:
    """The lab, with the origin running (HTTP, and HTTPS with the test CA); the test starts
    the cache."""
    with built_lab(tmp_path, test_ca) as lab:
        if lab.origin is not None:
            wait_listening(lab.wan, ORIGIN_IP, 443)
        yield lab

"""A three-host lab in network namespaces the tests create: a phone (client),
the appliance (nftables, the portal) and "the internet" (wan). All addresses
live inside these namespaces; nothing leaves the machine."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from captive_portal.nftables import NftTable
from captive_portal.ruleset import PortalNetwork, render_table

CLIENT_IP = "10.77.0.2"
PORTAL_IP = "10.77.0.1"
WAN_GATEWAY = "10.78.0.1"
WAN_IP = "10.78.0.2"
PORTAL_PORT = 8081
DOWNLOAD_BYTES = 10 * 1024 * 1024


def run(*argv: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command, inside namespace ``ns`` if given."""
    full = ["/usr/sbin/ip", "netns", "exec", ns, *argv] if ns else list(argv)
    return subprocess.run(full, capture_output=True, text=True, check=check, timeout=60)


@dataclass
class Lab:
    """The three namespaces and what runs in them."""

    client: str
    appliance: str
    wan: str
    byod_if: str
    wan_if: str
    client_mac: str = ""
    table: NftTable = field(default_factory=NftTable)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def fetch(self, url: str, timeout: float = 3.0) -> tuple[str, int, float]:
        """From the phone: GET ``url``; return (outcome, body bytes, seconds)."""
        script = (
            "import socket, sys, time, urllib.request, urllib.error\n"
            "start = time.monotonic()\n"
            "try:\n"
            f"    body = urllib.request.urlopen({url!r}, timeout={timeout}).read()\n"
            "    print('ok', len(body), time.monotonic() - start)\n"
            "except (urllib.error.URLError, OSError) as err:\n"
            "    reason = getattr(err, 'reason', err)\n"
            "    print(type(reason).__name__, 0, time.monotonic() - start)\n"
        )
        out = run(sys.executable, "-c", script, ns=self.client).stdout.split()
        return out[0], int(out[1]), float(out[2])

    def connect(self, port: int, timeout: float = 3.0) -> tuple[str, float]:
        """From the phone: open TCP to the WAN host; return (outcome, seconds)."""
        script = (
            "import socket, time\n"
            "start = time.monotonic()\n"
            "try:\n"
            f"    socket.create_connection(({WAN_IP!r}, {port}), timeout={timeout}).close()\n"
            "    print('connected', time.monotonic() - start)\n"
            "except OSError as err:\n"
            "    print(type(err).__name__, time.monotonic() - start)\n"
        )
        out = run(sys.executable, "-c", script, ns=self.client).stdout.split()
        return out[0], float(out[1])


# http.server's HTTPServer looks its own name up (getfqdn), which waits for a
# resolver the namespaces do not have: a plain TCPServer does not.
_FILE_SERVER = (
    "import functools, http.server, socketserver, sys\n"
    "handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[3])\n"
    "class Server(socketserver.ThreadingTCPServer):\n"
    "    allow_reuse_address = True\n"
    "    daemon_threads = True\n"
    "Server((sys.argv[1], int(sys.argv[2])), handler).serve_forever()\n"
)


def _serve(ns: str, argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["/usr/sbin/ip", "netns", "exec", ns, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_listening(ns: str, ip: str, port: int) -> None:
    for _ in range(100):
        probe = run(
            sys.executable,
            "-c",
            f"import socket; socket.create_connection(({ip!r}, {port}), 0.2).close()",
            ns=ns,
            check=False,
        )
        if probe.returncode == 0:
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing on {ip}:{port} in {ns}")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """Build client ⇄ appliance ⇄ wan with veth pairs, the portal table loaded."""
    tag = secrets.token_hex(3)
    lab = Lab(f"pc{tag}", f"pa{tag}", f"pw{tag}", f"byod{tag}", f"wan{tag}")
    lab.table = NftTable(["/usr/sbin/ip", "netns", "exec", lab.appliance])
    client_if, far_if = f"c{tag}", f"w{tag}"
    try:
        for ns in (lab.client, lab.appliance, lab.wan):
            run("/usr/sbin/ip", "netns", "add", ns)
            run("/usr/sbin/ip", "link", "set", "lo", "up", ns=ns)
        run(
            "/usr/sbin/ip",
            "link",
            "add",
            client_if,
            "netns",
            lab.client,
            "type",
            "veth",
            "peer",
            "name",
            lab.byod_if,
            "netns",
            lab.appliance,
        )
        run(
            "/usr/sbin/ip",
            "link",
            "add",
            lab.wan_if,
            "netns",
            lab.appliance,
            "type",
            "veth",
            "peer",
            "name",
            far_if,
            "netns",
            lab.wan,
        )
        for ns, ifname, address in (
            (lab.client, client_if, f"{CLIENT_IP}/24"),
            (lab.appliance, lab.byod_if, f"{PORTAL_IP}/24"),
            (lab.appliance, lab.wan_if, f"{WAN_GATEWAY}/24"),
            (lab.wan, far_if, f"{WAN_IP}/24"),
        ):
            run("/usr/sbin/ip", "addr", "add", address, "dev", ifname, ns=ns)
            run("/usr/sbin/ip", "link", "set", ifname, "up", ns=ns)
        run("/usr/sbin/ip", "route", "add", "default", "via", PORTAL_IP, ns=lab.client)
        run("/usr/sbin/ip", "route", "add", "default", "via", WAN_GATEWAY, ns=lab.wan)
        run("/usr/sbin/sysctl", "-qw", "net.ipv4.ip_forward=1", ns=lab.appliance)
        lab.client_mac = run(
            "/usr/bin/cat", f"/sys/class/net/{client_if}/address", ns=lab.client
        ).stdout.strip()
        origin = tmp_path / "origin"
        origin.mkdir()
        (origin / "big.bin").write_bytes(b"\x00" * DOWNLOAD_BYTES)
        (origin / "index.html").write_text("origin page")
        portal = tmp_path / "portal"
        portal.mkdir()
        (portal / "index.html").write_text("Préau portail captif")
        for ns, ip, port, folder in (
            (lab.wan, WAN_IP, 80, origin),
            (lab.wan, WAN_IP, 443, origin),
            (lab.wan, WAN_IP, 8080, origin),
            (lab.appliance, PORTAL_IP, PORTAL_PORT, portal),
        ):
            lab.servers.append(
                _serve(ns, [sys.executable, "-c", _FILE_SERVER, ip, str(port), str(folder)])
            )
            _wait_listening(ns, ip, port)
        lab.table.load(render_table(PortalNetwork(lab.byod_if, lab.wan_if, PORTAL_IP, PORTAL_PORT)))
        yield lab
    finally:
        for server in lab.servers:
            server.terminate()
            server.wait(10)
        for ns in (lab.client, lab.appliance, lab.wan):
            # Whatever a test left running in a namespace (dnsmasq after a SIGKILL…).
            pids = run("/usr/sbin/ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                run("/usr/bin/kill", "-9", pid, check=False)
            run("/usr/sbin/ip", "netns", "del", ns, check=False)

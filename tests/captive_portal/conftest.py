"""A three-host lab in network namespaces the tests create: a phone (client),
the appliance (nftables, the portal) and "the internet" (wan). All addresses
live inside these namespaces; nothing leaves the machine.

Why this file is over 500 lines: building the namespaces, their links,
addresses, routes and the portal's process is one lab, used by every portal
test; splitting it would scatter one setup over several files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from appliance.config import PreauConfig
from appliance.core import Core
from captive_portal.config import PortalConfig
from captive_portal.nftables import NftTable
from captive_portal.ruleset import PortalNetwork, render_table
from filter import state as filtering
from tests.conftest import (
    PREAU,
    make_config,
    opened_core,
    run_preau,
    unbound_config_text,
    write_config,
)

T = TypeVar("T")

CLIENT_IP = "10.77.0.2"
OTHER_IP = "10.77.0.3"
PORTAL_IP = "10.77.0.1"
WAN_GATEWAY = "10.78.0.1"
WAN_IP = "10.78.0.2"
CLIENT_IP6 = "fd77::2"
OTHER_IP6 = "fd77::3"
PORTAL_IP6 = "fd77::1"
WAN_GATEWAY6 = "fd78::1"
WAN_IP6 = "fd78::2"
PORTAL_PORT = 8081
DOWNLOAD_BYTES = 10 * 1024 * 1024
SMALL_BYTES = 1024 * 1024
QUARTER_BYTES = 256 * 1024


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
    client_if: str = ""
    jar: Path = Path("/nonexistent")
    other: str = ""  # a second phone, on the same BYOD bridge
    other_if: str = ""
    other_mac: str = ""
    other_jar: Path = Path("/nonexistent")
    table: NftTable = field(default_factory=NftTable)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def phone(self, method: str, url: str, *, jar: Path | None = None, **kwargs: Any) -> Answer:
        """From the phone, with its cookie jar: see :func:`phone_request`."""
        return phone_request(self.client, jar or self.jar, method, url, **kwargs)

    def fetch(self, url: str, timeout: float = 3.0, *, ns: str = "") -> tuple[str, int, float]:
        """From the phone (or ``ns``): GET ``url``; return (outcome, body bytes, seconds)."""
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
        out = run(sys.executable, "-c", script, ns=ns or self.client).stdout.split()
        return out[0], int(out[1]), float(out[2])

    def connect(
        self, port: int, timeout: float = 3.0, *, ns: str = "", host: str = WAN_IP
    ) -> tuple[str, float]:
        """From the phone (or ``ns``): open TCP to the WAN host; return (outcome, seconds)."""
        script = (
            "import socket, time\n"
            "start = time.monotonic()\n"
            "try:\n"
            f"    socket.create_connection(({host!r}, {port}), timeout={timeout}).close()\n"
            "    print('connected', time.monotonic() - start)\n"
            "except OSError as err:\n"
            "    print(type(err).__name__, time.monotonic() - start)\n"
        )
        out = run(sys.executable, "-c", script, ns=ns or self.client).stdout.split()
        return out[0], float(out[1])


_PHONE = r"""
import http.cookiejar, json, re, sys, time, urllib.error, urllib.parse, urllib.request
args = json.loads(sys.argv[1])
jar = http.cookiejar.LWPCookieJar(args["jar"])
try:
    jar.load(ignore_discard=True)
except FileNotFoundError:
    pass
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
def fetch(method, url, data=None, host=None):
    request = urllib.request.Request(url, data=data, method=method)
    if host:
        request.add_header("Host", host)
    try:
        response = opener.open(request, timeout=args["timeout"])
        return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
form = args["form"]
if form is not None and args["token_page"]:
    _, page = fetch("GET", args["token_page"])
    found = re.search(r'name="form_token" value="([^"]+)"', page)
    form = {"form_token": found.group(1) if found else "", **form}
data = urllib.parse.urlencode(form).encode() if form is not None else None
start = time.monotonic()
status, body = fetch(args["method"], args["url"], data, args["host"])
jar.save(ignore_discard=True)
print(json.dumps({"status": status, "body": body, "seconds": time.monotonic() - start}))
"""


@dataclass
class Answer:
    """What the phone got back."""

    status: int
    body: str
    seconds: float


def phone_request(
    ns: str,
    jar: Path,
    method: str,
    url: str,
    *,
    host: str = "",
    form: dict[str, str] | None = None,
    token_page: str = "",
    timeout: float = 5.0,
) -> Answer:
    """From a phone in ``ns`` with a cookie jar: one request, following redirects.

    With ``token_page``, the form token is read from that page first, as a
    browser would post the form it was shown.
    """
    args = {
        "jar": str(jar),
        "method": method,
        "url": url,
        "host": host,
        "form": form,
        "token_page": token_page,
        "timeout": timeout,
    }
    out = run(sys.executable, "-c", _PHONE, json.dumps(args), ns=ns).stdout
    data = json.loads(out)
    return Answer(data["status"], data["body"], data["seconds"])


# http.server's HTTPServer looks its own name up (getfqdn), which waits for a
# resolver the namespaces do not have: a plain TCPServer does not.
_FILE_SERVER = (
    "import functools, http.server, socket, socketserver, sys\n"
    "handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[3])\n"
    "class Server(socketserver.ThreadingTCPServer):\n"
    "    allow_reuse_address = True\n"
    "    daemon_threads = True\n"
    "    address_family = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET\n"
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


def _ip(*argv: str, ns: str | None = None) -> None:
    run("/usr/sbin/ip", *argv, ns=ns)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """Build two phones ⇄ (bridge) appliance ⇄ wan, IPv4 and IPv6, the portal table loaded.

    The BYOD side is a bridge, as on a real access-point uplink, so two phones
    share one BYOD interface; each phone is its own namespace.
    """
    tag = secrets.token_hex(3)
    lab = Lab(f"pc{tag}", f"pa{tag}", f"pw{tag}", f"byod{tag}", f"wan{tag}")
    lab.other = f"pd{tag}"
    lab.table = NftTable(["/usr/sbin/ip", "netns", "exec", lab.appliance])
    lab.client_if, lab.other_if = f"c{tag}", f"d{tag}"
    far_if = f"w{tag}"
    lab.jar = tmp_path / "phone-cookies.txt"
    lab.other_jar = tmp_path / "other-phone-cookies.txt"
    try:
        for ns in (lab.client, lab.other, lab.appliance, lab.wan):
            run("/usr/sbin/ip", "netns", "add", ns)
            _ip("link", "set", "lo", "up", ns=ns)
        _ip("link", "add", lab.byod_if, "type", "bridge", ns=lab.appliance)
        for phone, phone_if, port in (
            (lab.client, lab.client_if, f"pp{tag}"),
            (lab.other, lab.other_if, f"pq{tag}"),
        ):
            _ip(
                "link",
                "add",
                phone_if,
                "netns",
                phone,
                "type",
                "veth",
                "peer",
                "name",
                port,
                "netns",
                lab.appliance,
            )
            _ip("link", "set", port, "master", lab.byod_if, ns=lab.appliance)
            _ip("link", "set", port, "up", ns=lab.appliance)
        _ip(
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
        for ns, ifname, addresses in (
            (lab.client, lab.client_if, (f"{CLIENT_IP}/24", f"{CLIENT_IP6}/64")),
            (lab.other, lab.other_if, (f"{OTHER_IP}/24", f"{OTHER_IP6}/64")),
            (lab.appliance, lab.byod_if, (f"{PORTAL_IP}/24", f"{PORTAL_IP6}/64")),
            (lab.appliance, lab.wan_if, (f"{WAN_GATEWAY}/24", f"{WAN_GATEWAY6}/64")),
            (lab.wan, far_if, (f"{WAN_IP}/24", f"{WAN_IP6}/64")),
        ):
            for address in addresses:
                _ip("addr", "add", address, "dev", ifname, "nodad", ns=ns) if ":" in address else (
                    _ip("addr", "add", address, "dev", ifname, ns=ns)
                )
            _ip("link", "set", ifname, "up", ns=ns)
        for phone in (lab.client, lab.other):
            _ip("route", "add", "default", "via", PORTAL_IP, ns=phone)
            _ip("-6", "route", "add", "default", "via", PORTAL_IP6, ns=phone)
        _ip("route", "add", "default", "via", WAN_GATEWAY, ns=lab.wan)
        _ip("-6", "route", "add", "default", "via", WAN_GATEWAY6, ns=lab.wan)
        run("/usr/sbin/sysctl", "-qw", "net.ipv4.ip_forward=1", ns=lab.appliance)
        run("/usr/sbin/sysctl", "-qw", "net.ipv6.conf.all.forwarding=1", ns=lab.appliance)
        lab.client_mac = run(
            "/usr/bin/cat", f"/sys/class/net/{lab.client_if}/address", ns=lab.client
        ).stdout.strip()
        lab.other_mac = run(
            "/usr/bin/cat", f"/sys/class/net/{lab.other_if}/address", ns=lab.other
        ).stdout.strip()
        origin = tmp_path / "origin"
        origin.mkdir()
        (origin / "big.bin").write_bytes(b"\x00" * DOWNLOAD_BYTES)
        (origin / "index.html").write_text("origin page")
        # What Apple's probe server answers, for "the probe now reaches the internet".
        (origin / "hotspot-detect.html").write_text(
            "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"
        )
        (origin / "small.bin").write_bytes(b"\x01" * SMALL_BYTES)
        (origin / "quarter.bin").write_bytes(b"\x02" * QUARTER_BYTES)
        portal = tmp_path / "portal"
        portal.mkdir()
        (portal / "index.html").write_text("Préau portail captif")
        for ns, ip, port, folder in (
            (lab.wan, WAN_IP, 80, origin),
            (lab.wan, WAN_IP, 443, origin),
            (lab.wan, WAN_IP, 8080, origin),
            (lab.wan, WAN_IP6, 8080, origin),
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
        for ns in (lab.client, lab.other, lab.appliance, lab.wan):
            # Whatever a test left running in a namespace (dnsmasq after a SIGKILL…).
            pids = run("/usr/sbin/ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                run("/usr/bin/kill", "-9", pid, check=False)
            run("/usr/sbin/ip", "netns", "del", ns, check=False)


# -- the portal as a process in the appliance namespace -------------------------------

PORT = 8082
PORTAL = f"http://{PORTAL_IP}:{PORT}"
LOGIN_PAGE = f"{PORTAL}/login"


def portal_config(lab: Lab, tmp_path: Path, **extra: Any) -> tuple[PreauConfig, Path]:
    """Return a config running the portal on the lab's interfaces, and its file."""
    identity = extra.pop("identity", None)
    # Sessions tied to the school day would depend on when the suite runs: the
    # tests that are about it say so; every other role logs in at any hour.
    given = extra.pop("roles", None)
    if given is None:
        defaults = PortalConfig().roles.items()
        extra["roles"] = {n: {**r.model_dump(), "ends_with_school_day": False} for n, r in defaults}
    else:
        extra["roles"] = {n: {"ends_with_school_day": False, **r} for n, r in given.items()}
    sections: dict[str, Any] = {
        "logging": {"level": "DEBUG"},
        "portal": {
            "enabled": True,
            "byod_interface": lab.byod_if,
            "wan_interface": lab.wan_if,
            "address": PORTAL_IP,
            "http_port": PORT,
            "sweep_seconds": 0.5,
            **extra,
        },
    }
    if identity is not None:
        sections["identity"] = identity
    config = make_config(tmp_path / "data", **sections)
    return config, write_config(config, tmp_path / "preau.toml")


@contextlib.contextmanager
def running_portal(lab: Lab, config_path: Path, log: Path) -> Iterator[PortalProcess]:
    """Run `preau run portal` in the appliance namespace for the block."""
    process = PortalProcess(lab, config_path, log)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@dataclass
class PortalProcess:
    """`preau run portal` inside the lab's appliance namespace."""

    lab: Lab
    config_path: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    services: tuple[str, ...] = ("portal",)

    def start(self) -> None:
        """Start it and wait until it answers."""
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                [
                    "/usr/sbin/ip",
                    "netns",
                    "exec",
                    self.lab.appliance,
                    str(PREAU),
                    "--config",
                    str(self.config_path),
                    "run",
                    *self.services,
                ],
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        _wait_listening(self.lab.appliance, PORTAL_IP, PORT)

    def kill(self) -> None:
        """SIGKILL it (a crash)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Stop it (SIGTERM)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def tail(self) -> str:
        """Return the end of its log (for assertion messages)."""
        return self.log.read_text(errors="replace")[-3000:]


def add_user(path: Path, login: str, role: str, class_name: str, password: str) -> None:
    """Create a local account through the CLI."""
    argv = ["user", "add", login, "--role", role, "--name", login, "--password", password]
    if class_name:
        argv += ["--class", class_name]
    added = run_preau(*argv, config_path=path)
    assert added.returncode == 0, added.stderr


def portal_login(
    lab: Lab,
    login: str,
    password: str,
    *,
    charter_version: str = "2026-09",
    ns: str = "",
    jar: Path | None = None,
) -> Answer:
    """Log in from a phone as a person would: show the form, fill it, accept the charter."""
    return phone_request(
        ns or lab.client,
        jar or (lab.other_jar if ns == lab.other else lab.jar),
        "POST",
        LOGIN_PAGE,
        form={
            "login": login,
            "password": password,
            "charter": "accepted",
            "charter_version": charter_version,
        },
        token_page=LOGIN_PAGE,
    )


def state_rows(config: PreauConfig, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Read the state DB as another process would."""
    conn = sqlite3.connect(config.state_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def wait_until(check: Callable[[], bool], seconds: float = 5.0, step: float = 0.2) -> bool:
    """Poll ``check`` until true or ``seconds`` pass; return its last value."""
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


def with_core(config: PreauConfig, action: Callable[[Core], Awaitable[T]]) -> T:
    """Run one admin action on a core of its own (as the web process would)."""

    async def go() -> T:
        async with opened_core(config) as core:
            return await action(core)

    return asyncio.run(go())


def block_class(config: PreauConfig, class_name: str) -> filtering.OverrideRow:
    """A teacher cuts the internet for ``class_name`` for ten minutes (#9.2)."""
    return with_core(
        config,
        lambda core: filtering.add_override(
            core,
            target_kind="class",
            target=class_name,
            action="block_all",
            seconds=600,
            actor="sdurand",
            source="test",
        ),
    )


def start_internet(lab: Lab, tmp_path: Path) -> None:
    """Start unbound in the WAN namespace: cours.test is "the internet"."""
    folder = tmp_path / "unbound"
    folder.mkdir()
    conf = unbound_config_text(
        folder, interface=WAN_IP, port=53, allow="10.78.0.0/24", zones=["cours.test."],
        data=[f"cours.test. 60 IN A {WAN_IP}"],
    )  # fmt: skip
    (folder / "unbound.conf").write_text(conf)
    argv = ["/usr/sbin/ip", "netns", "exec", lab.wan, "/usr/sbin/unbound", "-d", "-c",
            str(folder / "unbound.conf")]  # fmt: skip
    lab.servers.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def dig(lab: Lab, ns: str, name: str) -> str:
    """Ask the appliance's filter from a phone; return the short answer."""
    return run(
        "/usr/bin/dig", "+short", "+time=2", "+tries=1", f"@{PORTAL_IP}", name, ns=ns, check=False
    ).stdout.strip()


def curl(ns: str, url: str) -> str:
    """Fetch ``url`` with curl from a phone; return the body (empty on failure)."""
    argv = ["/usr/bin/curl", "-s", "--max-time", "3", "--resolve", f"cours.test:80:{WAN_IP}"]
    return run(*argv, url, ns=ns, check=False).stdout

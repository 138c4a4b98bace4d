"""The portal end to end in network namespaces: probe → login page → directory
login with the charter → online; the filter learns who is on the address; a
SIGKILL and restart keep the session (issue #4, scopes 3-5, 8, 9)."""

from __future__ import annotations

import ipaddress
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.config import PreauConfig
from tests.captive_portal.conftest import (
    CLIENT_IP,
    DOWNLOAD_BYTES,
    PORTAL_IP,
    WAN_IP,
    Lab,
    _wait_listening,
    run,
)
from tests.conftest import PREAU, make_config, run_preau, write_config

pytestmark = pytest.mark.timeout(120)
PORT = 8082


def client_http(lab: Lab, method: str, url: str, *, host: str = "", form: str = "") -> str:
    """From the phone: an HTTP request following redirects; return 'status body'."""
    script = (
        "import urllib.request, urllib.error\n"
        f"data = {form.encode()!r} or None\n"
        f"request = urllib.request.Request({url!r}, data=data, method={method!r})\n"
        f"if {host!r}: request.add_header('Host', {host!r})\n"
        "try:\n"
        "    response = urllib.request.urlopen(request, timeout=5)\n"
        "    print(response.status, response.read().decode(errors='replace'))\n"
        "except urllib.error.HTTPError as err:\n"
        "    print(err.code, err.read().decode(errors='replace'))\n"
    )
    return run(sys.executable, "-c", script, ns=lab.client).stdout


def start_portal(lab: Lab, config_path: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [
                "/usr/sbin/ip",
                "netns",
                "exec",
                lab.appliance,
                str(PREAU),
                "--config",
                str(config_path),
                "run",
                "portal",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    _wait_listening(lab.appliance, PORTAL_IP, PORT)
    return process


def portal_config(lab: Lab, tmp_path: Path, **extra: object) -> tuple[PreauConfig, Path]:
    """Return a config running the portal on the lab's interfaces, and its file."""
    config = make_config(
        tmp_path / "data",
        portal={
            "enabled": True,
            "byod_interface": lab.byod_if,
            "wan_interface": lab.wan_if,
            "address": PORTAL_IP,
            "http_port": PORT,
            **extra,
        },
    )
    return config, write_config(config, tmp_path / "preau.toml")


def test_login_with_charter_opens_the_gate_and_survives_a_restart(lab: Lab, tmp_path: Path) -> None:
    config, path = portal_config(lab, tmp_path, sweep_seconds=0.5)
    added = run_preau(
        "user",
        "add",
        "l.bernard",
        "--role",
        "pupil",
        "--name",
        "Lina B.",
        "--class",
        "6A",
        "--password",
        "pupil-password-1",
        config_path=path,
    )
    assert added.returncode == 0, added.stderr
    log = tmp_path / "portal.log"
    portal = start_portal(lab, path, log)
    try:
        # An Apple probe before login lands on the login page, not on "Success".
        probe = client_http(
            lab, "GET", f"http://{WAN_IP}/hotspot-detect.html", host="captive.apple.com"
        )
        assert probe.startswith("200")
        assert "Connexion au Wi-Fi" in probe
        assert lab.connect(8080)[0] != "connected"
        api = json.loads(client_http(lab, "GET", f"http://{PORTAL_IP}:{PORT}/api/captive")[4:])
        assert api["captive"] is True
        # Without the charter: refused, still offline.
        no_charter = client_http(
            lab,
            "POST",
            f"http://{PORTAL_IP}:{PORT}/login",
            form="login=l.bernard&password=pupil-password-1",
        )
        assert no_charter.startswith("401")
        assert "charte" in no_charter
        online = client_http(
            lab,
            "POST",
            f"http://{PORTAL_IP}:{PORT}/login",
            form="login=l.bernard&password=pupil-password-1&charter=accepted"
            "&charter_version=2026-09",
        )
        assert online.startswith("200"), online + log.read_text()
        assert "Connecté" in online
        assert lab.connect(8080)[0] == "connected"
        api = json.loads(client_http(lab, "GET", f"http://{PORTAL_IP}:{PORT}/api/captive")[4:])
        assert api["captive"] is False
        assert api["seconds-remaining"] > 0
        # The DNS filter's view: who is on this address, with role and class.
        conn = sqlite3.connect(config.state_path)
        try:
            row = conn.execute(
                "SELECT person_id, role, class_name FROM network_clients WHERE address = ?",
                (CLIENT_IP,),
            ).fetchone()
            charter = conn.execute("SELECT version FROM portal_charter").fetchall()
        finally:
            conn.close()
        assert row == ("l.bernard", "pupil", "6A")
        assert charter == [("2026-09",)]
        # A 10 MB download is sampled from the kernel counters into SQLite.
        outcome, size, _ = lab.fetch(f"http://{WAN_IP}/big.bin", timeout=20)
        assert (outcome, size) == ("ok", DOWNLOAD_BYTES)
        deadline = time.monotonic() + 5
        down = 0
        while time.monotonic() < deadline:
            conn = sqlite3.connect(config.state_path)
            try:
                found = conn.execute(
                    "SELECT COALESCE(SUM(down_bytes), 0), COALESCE(SUM(up_bytes), 0)"
                    " FROM portal_usage WHERE user = 'l.bernard'"
                ).fetchone()
            finally:
                conn.close()
            down = found[0]
            if down >= DOWNLOAD_BYTES:
                break
            time.sleep(0.2)
        # IP-level bytes: the body plus headers (about 4 % for 1,448-byte segments).
        assert DOWNLOAD_BYTES <= down <= DOWNLOAD_BYTES * 1.05, log.read_text()[-3000:]
        # SIGKILL and restart: the table is rebuilt and the session put back first.
        portal.send_signal(signal.SIGKILL)
        portal.wait(10)
        portal = start_portal(lab, path, log)
        time.sleep(0.2)
        assert lab.connect(8080)[0] == "connected", log.read_text()
    finally:
        portal.terminate()
        portal.wait(10)


DHCP_CLIENT = """
import sys
from scapy.all import BOOTP, DHCP, IP, UDP, Ether, conf, get_if_hwaddr, srp1
conf.checkIPaddr = False
iface = sys.argv[1]
mac = get_if_hwaddr(iface)
chaddr = bytes.fromhex(mac.replace(":", "")) + bytes(10)
discover = (
    Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
    / IP(src="0.0.0.0", dst="255.255.255.255")
    / UDP(sport=68, dport=67)
    / BOOTP(chaddr=chaddr, xid=0x5EA)
    / DHCP(options=[("message-type", "discover"), ("param_req_list", [1, 3, 6, 114]), "end"])
)
offer = srp1(discover, iface=iface, timeout=5, verbose=0)
if offer is None:
    print("no-offer")
    sys.exit(0)
options = {o[0]: o[1] for o in offer[DHCP].options if isinstance(o, tuple)}
portal = options.get("captive-portal", options.get(114, b""))
print(offer[BOOTP].yiaddr, portal.decode() if isinstance(portal, bytes) else portal)
"""


def test_dhcp_offer_announces_the_portal_api(lab: Lab, tmp_path: Path) -> None:
    _, path = portal_config(lab, tmp_path, captive_api_url=f"https://{PORTAL_IP}/api/captive")
    portal = start_portal(lab, path, tmp_path / "portal.log")
    try:
        client_if = "c" + lab.byod_if.removeprefix("byod")
        offer = run(sys.executable, "-c", DHCP_CLIENT, client_if, ns=lab.client).stdout.split()
        for _ in range(20):
            if offer and offer[0] != "no-offer":
                break
            time.sleep(0.25)
            offer = run(sys.executable, "-c", DHCP_CLIENT, client_if, ns=lab.client).stdout.split()
        address, portal_uri = offer
        assert ipaddress.IPv4Address("10.77.0.100") <= ipaddress.IPv4Address(address)
        assert ipaddress.IPv4Address(address) <= ipaddress.IPv4Address("10.77.0.250")
        assert portal_uri == f"https://{PORTAL_IP}/api/captive"  # RFC 8910 option 114
    finally:
        portal.terminate()
        portal.wait(10)

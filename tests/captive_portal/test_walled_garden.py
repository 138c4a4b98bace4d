"""The walled garden: names reachable before login, opened from the answers of
a real resolver (unbound) for their TTL (issue #4 scope 1; CARMO #7.5)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from captive_portal.garden import GardenError, build_query, check_name, parse_answer
from tests.captive_portal.conftest import (
    WAN_IP,
    Lab,
    portal_config,
    run,
    running_portal,
    wait_until,
)
from tests.conftest import unbound_config_text

pytestmark = pytest.mark.timeout(120)


def _unbound_conf(folder: Path) -> str:
    return unbound_config_text(
        folder,
        port=5353,
        zones=["ent.test.", "other.test."],
        data=[
            "ent.test. 40 IN CNAME www.ent.test.",
            f"www.ent.test. 40 IN A {WAN_IP}",
            "other.test. 300 IN A 10.78.0.99",
        ],
    )


def _wait_udp(lab: Lab, host: str, port: int) -> None:
    probe = (
        "import socket, sys\n"
        "from dnslib import DNSRecord\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)\n"
        f"s.sendto(DNSRecord.question('ent.test').pack(), ({host!r}, {port}))\n"
        "s.recv(512)\n"
    )
    for _ in range(100):
        if run(sys.executable, "-c", probe, ns=lab.appliance, check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise TimeoutError("unbound did not answer")


def test_garden_names_are_reachable_before_login_for_their_ttl(lab: Lab, tmp_path: Path) -> None:
    folder = tmp_path / "unbound"
    folder.mkdir()
    (folder / "unbound.conf").write_text(_unbound_conf(folder))
    resolver = subprocess.Popen(
        [
            "/usr/sbin/ip",
            "netns",
            "exec",
            lab.appliance,
            "/usr/sbin/unbound",
            "-d",
            "-c",
            str(folder / "unbound.conf"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lab.servers.append(resolver)
    _wait_udp(lab, "127.0.0.1", 5353)
    _, path = portal_config(
        lab, tmp_path, walled_garden=["ent.test"], garden_resolver="127.0.0.1:5353"
    )
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        # Not logged in, yet the ENT answers, on HTTPS too (no reset); nothing else does.
        assert wait_until(lambda: lab.connect(443, timeout=1)[0] == "connected"), portal.tail()
        assert lab.connect(8080)[0] == "connected"
        garden = lab.table.state().garden
        assert set(garden) == {WAN_IP}
        assert 0 < garden[WAN_IP] <= 40 + 60  # the TTL plus a grace, never for good
        assert "10.78.0.99" not in garden
        outcome, _, _ = lab.fetch(f"http://{WAN_IP}/index.html")
        assert outcome == "ok"


def test_garden_names_and_answers_are_checked() -> None:
    assert check_name("ENT.Example.fr.") == "ent.example.fr"
    for bad in ("", "localhost", "a..b", "x" * 70 + ".fr", "évil.fr", "a b.fr"):
        with pytest.raises(GardenError):
            check_name(bad)
    query = build_query("ent.test", 1234)
    with pytest.raises(GardenError):
        parse_answer("ent.test", 1234, query)  # a query is not an answer
    with pytest.raises(GardenError):
        parse_answer("ent.test", 1234, b"\x00\x01garbage")

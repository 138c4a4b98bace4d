"""A fleet behind NAT: 20 boxes, one centre, policy for a group of sites (issue #14).

Three network namespaces: the centre (nginx serving the signed repository, the
intake, a stock Prometheus), a school router doing NAT that drops every
connection from outside, and the schools' LAN where 20 boxes run, each a
`preau run` process with its own state and its own token. Nothing listens for
the centre at a school: every exchange starts from the box.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance.config import PreauConfig
from tests.captive_portal.conftest import run as sh
from tests.conftest import PREAU, make_config, write_config
from tests.sync.conftest import Centre, leaks, link_of, start_centre, start_prometheus
from tests.sync.test_link import expired_timestamp

pytestmark = pytest.mark.timeout(420)

BOXES = 20
BOX_PORT_BASE = 20080
GROUP = [f"07501{index:02d}A" for index in range(7)]
CENTRE_IP, ROUTER_WAN_IP, ROUTER_LAN_IP, LAN_IP = "10.77.0.1", "10.77.0.2", "10.78.0.1", "10.78.0.2"


@dataclass
class Fleet:
    """The three namespaces and what runs in them."""

    centre_ns: str
    router_ns: str
    lan_ns: str
    boxes: list[tuple[PreauConfig, subprocess.Popen[bytes]]] = field(default_factory=list)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """Build centre ⇄ NAT router ⇄ schools' LAN."""
    tag = secrets.token_hex(3)
    lab = Fleet(f"fc{tag}", f"fr{tag}", f"fl{tag}")
    try:
        for ns in (lab.centre_ns, lab.router_ns, lab.lan_ns):
            sh("/usr/sbin/ip", "netns", "add", ns)
            sh("/usr/sbin/ip", "link", "set", "lo", "up", ns=ns)
        for near, far, near_ns, far_ns in (
            (f"rw{tag}", f"cw{tag}", lab.router_ns, lab.centre_ns),
            (f"rl{tag}", f"ll{tag}", lab.router_ns, lab.lan_ns),
        ):
            sh("/usr/sbin/ip", "link", "add", near, "netns", near_ns, "type", "veth",
               "peer", "name", far, "netns", far_ns)  # fmt: skip
        for ns, ifname, address in (
            (lab.centre_ns, f"cw{tag}", CENTRE_IP),
            (lab.router_ns, f"rw{tag}", ROUTER_WAN_IP),
            (lab.router_ns, f"rl{tag}", ROUTER_LAN_IP),
            (lab.lan_ns, f"ll{tag}", LAN_IP),
        ):
            sh("/usr/sbin/ip", "addr", "add", f"{address}/24", "dev", ifname, ns=ns)
            sh("/usr/sbin/ip", "link", "set", ifname, "up", ns=ns)
        sh("/usr/sbin/ip", "route", "add", "default", "via", ROUTER_LAN_IP, ns=lab.lan_ns)
        sh("/usr/sbin/sysctl", "-qw", "net.ipv4.ip_forward=1", ns=lab.router_ns)
        # The school's router: the LAN goes out masqueraded; nothing comes in uninvited.
        ruleset = f"""
table inet school {{
  chain forward {{
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "rl{tag}" oifname "rw{tag}" accept
  }}
  chain input {{
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iifname "lo" accept
  }}
  chain postrouting {{
    type nat hook postrouting priority 100;
    oifname "rw{tag}" masquerade
  }}
}}
"""
        rules = tmp_path / "router.nft"
        rules.write_text(ruleset)
        sh("/usr/sbin/nft", "-f", str(rules), ns=lab.router_ns)
        yield lab
    finally:
        for _config, process in lab.boxes:
            if process.poll() is None:
                process.kill()
            process.wait()
        for ns in (lab.centre_ns, lab.router_ns, lab.lan_ns):
            for pid in sh("/usr/sbin/ip", "netns", "pids", ns, check=False).stdout.split():
                sh("/usr/bin/kill", "-9", pid, check=False)
            sh("/usr/sbin/ip", "netns", "del", ns, check=False)


def start_box(
    fleet: Fleet, centre: Centre, tmp_path: Path, uai: str, remote_write: str
) -> PreauConfig:
    """Enrol one box with its own token and run it in the schools' LAN."""
    config = make_config(
        tmp_path / uai,
        site={"schools": [{"uai": uai, "name": f"École {uai}"}]},
        # All boxes share the LAN's one address: each takes its own port below
        # the kernel's ephemeral range, so no box's outgoing connection (nor a
        # port picked on the host) can hold another box's port.
        web={"host": LAN_IP, "port": BOX_PORT_BASE + len(fleet.boxes)},
        filter={"enabled": False},
        sync={
            "poll_minutes": 0.1,
            "report_minutes": 0.2,
            "apply_check_seconds": 30,
            "telemetry": {"remote_write_url": remote_write},
        },
    )
    path = write_config(config, tmp_path / f"{uai}.toml")
    enrolled = sh(
        str(PREAU), "--config", str(path), "sync", "enrol", centre.token(uai), ns=fleet.lan_ns
    )
    assert enrolled.returncode == 0, enrolled.stderr
    with (tmp_path / f"{uai}.log").open("wb") as log:
        process = subprocess.Popen(
            [
                "/usr/sbin/ip",
                "netns",
                "exec",
                fleet.lan_ns,
                str(PREAU),
                "--config",
                str(path),
                "run",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    fleet.boxes.append((config, process))
    return config


def wait(check: Callable[[], bool], fleet: Fleet, within: float) -> None:
    """Wait until ``check()`` holds while every box runs."""
    deadline = time.monotonic() + within
    while not check():
        for config, process in fleet.boxes:
            if process.poll() is not None:
                log = config.site.data_dir.parent / f"{config.site.schools[0].uai}.log"
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                pytest.fail(f"box {config.site.schools[0].uai} stopped:\n{tail}")
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_a_group_s_policy_reaches_exactly_its_sites_within_a_poll_and_nothing_comes_in(
    fleet: Fleet, tmp_path: Path
) -> None:
    centre = start_centre(tmp_path / "centre", ns=fleet.centre_ns, host=CENTRE_IP)
    prometheus = start_prometheus(tmp_path / "prometheus", [], ns=fleet.centre_ns, host=CENTRE_IP)
    try:
        uais = [f"07501{index:02d}A" for index in range(BOXES)]
        configs = {
            uai: start_box(fleet, centre, tmp_path, uai, prometheus.write_url) for uai in uais
        }
        # Every box reads the centre through the NAT.
        wait(lambda: all(link_of(c).last_exchange_at for c in configs.values()), fleet, 120)
        # ...and pushes its figures to the centre's Prometheus, through the same NAT.

        def sites_received() -> set[str]:
            query = "count by (site) (preau_host_uptime_seconds)"
            answer = sh("/usr/bin/curl", "-s", "--max-time", "5", "--get", "--data-urlencode",
                        f"query={query}", f"{prometheus.url}/api/v1/query", ns=fleet.centre_ns,
                        check=False)  # fmt: skip
            try:
                result = json.loads(answer.stdout)["data"]["result"]
            except (ValueError, KeyError):
                return set()
            return {row["metric"]["site"] for row in result}

        wait(lambda: sites_received() == set(uais), fleet, 120)
        # Nothing reaches a box from the centre's side (here: its web UI).
        box_port = configs[uais[0]].web.port
        knock = f"timeout 3 bash -c 'exec 3<>/dev/tcp/{LAN_IP}/{box_port}'"
        probe = sh("/usr/bin/bash", "-c", knock, ns=fleet.centre_ns, check=False)
        assert probe.returncode != 0
        inside = sh("/usr/bin/bash", "-c", f"exec 3<>/dev/tcp/{LAN_IP}/{box_port}", ns=fleet.lan_ns,
                    check=False)  # fmt: skip
        assert inside.returncode == 0  # it does listen: the router is what keeps the centre out

        centre.cli("group", "rep", *GROUP)
        centre.publish('[settings]\n"site.name" = { value = "Réseau REP", locked = true }\n',
                       "--group", "rep")  # fmt: skip
        published = time.monotonic()

        def applied() -> set[str]:
            return {
                uai for uai, config in configs.items()
                if "group:rep" in link_of(config).policy_origins
            }  # fmt: skip

        wait(lambda: applied() == set(GROUP), fleet, 120)
        took = time.monotonic() - published
        # Within one poll (6 s ± 20 %) plus the restart and the health check.
        assert took < 0.1 * 60 * 1.2 + 30 + 30
        # One more poll everywhere: the others still have no policy.
        time.sleep(0.1 * 60 * 1.2 * 2)
        assert applied() == set(GROUP)
        for uai in uais:
            link = link_of(configs[uai])
            assert bool(link.policy_digest) == (uai in GROUP), uai
            assert not link.revoked

        # The centre stops signing: its timestamp expires. Every box keeps its policy, says
        # so, and runs on.
        expired_timestamp(centre)
        wait(lambda: all(link_of(c).policy_stale for c in configs.values()), fleet, 60)
        for uai in GROUP:
            assert link_of(configs[uai]).policy_digest
        # What the 20 boxes sent names no person, no device, no address.
        assert len(list((centre.central / "intake" / "reports").rglob("*.json"))) >= BOXES
        assert not leaks(centre.central)
    finally:
        prometheus.process.terminate()
        prometheus.process.wait(10)
        centre.stop()

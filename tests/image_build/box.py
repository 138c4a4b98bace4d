"""What the package's tests check in a booted guest: units, the web UI, DNS answers.

The guest is a :class:`~tests.image_build.machine.Container`; the host reaches
its web UI and DNS filter at the container's own address.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from dnslib import QTYPE, DNSRecord

from appliance.services import unit_services
from tests.image_build.machine import BYOD_ADDRESS, Container

UNITS = [f"preau-{unit}.service" for unit in unit_services()]
# The one name unbound in the guest answers itself (it has no internet), and
# one name the filter's configuration denies to everybody.
ALLOWED, ALLOWED_ADDRESS = "ouvert.preau.test", "192.0.2.7"
DENIED = "interdit.preau.test"
REFERENT_PASSWORD = "Tableau-Noir-2026"
PORTAL = f"http://{BYOD_ADDRESS}"
SUITE = dict(
    line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
)["VERSION_CODENAME"]


def units_state(vm: Container) -> dict[str, str]:
    """Return each Préau unit's ActiveState."""
    output = vm.ssh("systemctl show -p Id -p ActiveState " + " ".join(UNITS))[1]
    states: dict[str, str] = {}
    unit = ""
    for line in output.splitlines():
        if line.startswith("Id="):
            unit = line[3:]
        elif line.startswith("ActiveState="):
            states[unit] = line[len("ActiveState=") :]
    return states


def main_pid(vm: Container, unit: str) -> int:
    """Return a unit's main process id (0 when it runs none)."""
    return int(vm.ssh(f"systemctl show -p MainPID --value {unit}")[1].strip())


def web_url(vm: Container, path: str) -> str:
    """Return PATH's address on the guest's web UI (HTTPS once the first run is done)."""
    return f"{'https' if vm.web_tls else 'http'}://{vm.guest_ip}:8080{path}"


def web_status(vm: Container, path: str = "/login") -> int:
    """GET a page of the web UI from the host through the forwarded port."""
    try:
        with urllib.request.urlopen(web_url(vm, path), timeout=5, context=vm.web_tls) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return 0


def web_login(vm: Container, login: str, password: str) -> int:
    """Log in through the JSON API from the host; return the status."""
    request = urllib.request.Request(
        web_url(vm, "/api/v1/session"),
        data=json.dumps({"login": login, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10, context=vm.web_tls) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def first_run(vm: Container, code: str, **fields: str) -> str:
    """Fill the first-run page from the host as a referent would; return the page it answers.

    On success the guest's web UI turns to HTTPS with its local CA, whose
    root is downloaded from the box and trusted from then on (``vm.web_tls``).
    """
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    page = opener.open(web_url(vm, "/premiere-mise-en-service"), timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None, page
    form = {
        "csrf_token": token.group(1),
        "code": code,
        "school_uai": "0693456A",
        "school_name": "Collège Jean Moulin",
        "school_kind": "college",
        "login": "referente",
        "display_name": "Mme Référente",
        "password": REFERENT_PASSWORD,
        "password_again": REFERENT_PASSWORD,
        "admin_interface": "host0",
        "certificate": "local",
        **fields,
    }
    request = urllib.request.Request(
        web_url(vm, "/premiere-mise-en-service"),
        data=urllib.parse.urlencode(form).encode(),
        method="POST",
    )
    try:
        answer = opener.open(request, timeout=60).read().decode()
    except urllib.error.HTTPError as err:
        return err.read().decode()
    if "Mise en service faite" in answer:
        # The root is in the page: the web UI now restarts on HTTPS.
        shown = re.search(r'<pre id="root-pem">([^<]+)</pre>', answer)
        assert shown is not None, answer
        vm.web_tls = ssl.create_default_context(cadata=shown.group(1))
    return answer


def ask(vm: Container, name: str) -> DNSRecord | None:
    """Ask the box's DNS filter for NAME's A record from the host (UDP)."""
    query = DNSRecord.question(name, "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        try:
            sock.sendto(query.pack(), (vm.guest_ip, 53))
            return DNSRecord.parse(sock.recv(4096))
        except OSError:
            return None


def serving(vm: Container) -> bool:
    """Tell whether the web UI and the DNS filter both answer."""
    reply = ask(vm, ALLOWED)
    return web_status(vm) == 200 and reply is not None and addresses(reply) == [ALLOWED_ADDRESS]


def addresses(reply: DNSRecord) -> list[str]:
    """Return the IPv4 addresses an answer gives."""
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]


def wait_until(check: Callable[[], bool], seconds: float) -> float:
    """Poll CHECK until true; return how long it took, or fail after SECONDS."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"not true after {seconds} s")


def portal_answers(vm: Container) -> bool:
    """Tell whether the portal answers the phone on the pupils' Wi-Fi."""
    probe = subprocess.run(
        ["ip", "netns", "exec", vm.phone_ns, sys.executable, "-c",
         f"import socket; socket.create_connection(({BYOD_ADDRESS!r}, 80), 1).close()"],
        capture_output=True, check=False,
    )  # fmt: skip
    return probe.returncode == 0


def journal(vm: Container) -> str:
    """Return the end of Préau's journal in the guest, for failure messages."""
    return vm.ssh("journalctl -n 60 --no-pager -u 'preau*'", check=False)[1]


def open_to_host(vm: Container) -> None:
    """Serve the web UI on every address, deny DENIED, and let unbound answer ALLOWED."""
    # The admin LAN and the filter's lists are the first-run page's work;
    # here the config file says them, as a referent would write them.
    vm.ssh(
        r"""sed -i -e '/^\[web\]/,/^\[/ s/^host = .*/host = "0.0.0.0"/' """
        rf"""-e '/^\[filter\]/,/^\[/ s/^deny = \[\]/deny = ["{DENIED}"]/' /etc/preau/preau.toml"""
    )
    vm.ssh(
        "printf 'server:\\n    local-data: \"%s. 60 IN A %s\"\\n' "
        f"{ALLOWED} {ALLOWED_ADDRESS} > /etc/unbound/unbound.conf.d/preau-test.conf"
        " && systemctl restart unbound"
    )

"""Hostile or broken clients: an unauthorised phone reaches nothing on the WAN on
any protocol; forged, replayed and oversized posts and a flood are refused with
a clear page and never affect another person's session (issue #4, "Bad input";
CARMO #7.5)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.captive_portal.conftest import (
    LOGIN_PAGE,
    PORTAL,
    PORTAL_IP,
    WAN_IP,
    WAN_IP6,
    Lab,
    add_user,
    phone_request,
    portal_config,
    portal_login,
    run,
    running_portal,
)

pytestmark = pytest.mark.timeout(120)
PASSWORD = "pupil-password-1"

# Counts, in the WAN namespace, every packet whose source is a BYOD address,
# whatever its protocol: the portal's own table cannot vouch for itself.
_WAN_WITNESS = """table inet witness {
    chain input {
        type filter hook prerouting priority -300; policy accept;
        ip saddr 10.77.0.0/24 counter
        ip6 saddr fd77::/64 counter
    }
}
"""

_ATTEMPTS = f"""
import socket
def attempt(family, kind, proto, address, payload=b"x"):
    try:
        with socket.socket(family, kind, proto) as s:
            s.settimeout(0.5)
            if kind == socket.SOCK_STREAM:
                s.connect(address)
            else:
                s.sendto(payload, address)
    except OSError:
        pass
for port in (22, 53, 443, 853, 3389, 8080):
    attempt(socket.AF_INET, socket.SOCK_STREAM, 0, ({WAN_IP!r}, port))
    attempt(socket.AF_INET6, socket.SOCK_STREAM, 0, ({WAN_IP6!r}, port))
for port in (53, 123, 443, 51820):
    attempt(socket.AF_INET, socket.SOCK_DGRAM, 0, ({WAN_IP!r}, port))
    attempt(socket.AF_INET6, socket.SOCK_DGRAM, 0, ({WAN_IP6!r}, port))
# ICMP echo, GRE and SCTP as raw IP.
echo = bytes([8, 0, 0xF7, 0xFF, 0, 0, 0, 0])
attempt(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP, ({WAN_IP!r}, 0), echo)
attempt(socket.AF_INET, socket.SOCK_RAW, 47, ({WAN_IP!r}, 0), b"\\x00" * 8)
attempt(socket.AF_INET, socket.SOCK_RAW, 132, ({WAN_IP!r}, 0), b"\\x00" * 16)
attempt(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6, ({WAN_IP6!r}, 0),
        bytes([128, 0, 0, 0, 0, 0, 0, 0]))
print("done")
"""


def wan_witness(lab: Lab) -> int:
    """Return how many packets from BYOD addresses reached the WAN host."""
    listing = json.loads(
        run("/usr/sbin/nft", "-j", "list", "table", "inet", "witness", ns=lab.wan).stdout
    )
    return sum(
        expr["counter"]["packets"]
        for item in listing["nftables"]
        if "rule" in item
        for expr in item["rule"]["expr"]
        if "counter" in expr
    )


def test_an_unauthorised_phone_reaches_nothing_on_any_protocol(lab: Lab, tmp_path: Path) -> None:
    witness = tmp_path / "witness.nft"
    witness.write_text(_WAN_WITNESS)
    run("/usr/sbin/nft", "-f", str(witness), ns=lab.wan)
    _, path = portal_config(lab, tmp_path)
    add_user(path, "l.bernard", "pupil", "6A", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log"):
        assert run(sys.executable, "-c", _ATTEMPTS, ns=lab.client).stdout.strip() == "done"
        # HTTP on port 80 is answered by the portal itself, never by the origin.
        http = lab.phone("GET", f"http://{WAN_IP}/index.html")
        assert "origin page" not in http.body
        assert "Connexion au Wi-Fi" in http.body
        assert wan_witness(lab) == 0
        # The witness can see: after login the same attempts do reach the WAN.
        assert portal_login(lab, "l.bernard", PASSWORD).status == 200
        run(sys.executable, "-c", _ATTEMPTS, ns=lab.client)
        assert wan_witness(lab) > 0


def test_forged_replayed_and_oversized_posts_get_a_clear_refusal(lab: Lab, tmp_path: Path) -> None:
    _, path = portal_config(lab, tmp_path)
    add_user(path, "l.bernard", "pupil", "6A", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        form = {
            "login": "l.bernard",
            "password": PASSWORD,
            "charter": "accepted",
            "charter_version": "2026-09",
        }
        # Forged: a post without the token of a form the portal showed.
        forged = lab.phone("POST", LOGIN_PAGE, form=form)
        assert forged.status == 400
        assert "formulaire a expiré" in forged.body
        # A token shown to another phone is no good from this one.
        page = phone_request(lab.other, lab.other_jar, "GET", LOGIN_PAGE)
        token = re.search(r'name="form_token" value="([^"]+)"', page.body)
        assert token is not None
        stolen = lab.phone("POST", LOGIN_PAGE, form={**form, "form_token": token.group(1)})
        assert stolen.status == 400
        # Replayed: the same token twice. The first (wrong password) is answered,
        # the second is refused before any password check.
        page = lab.phone("GET", LOGIN_PAGE)
        token = re.search(r'name="form_token" value="([^"]+)"', page.body)
        assert token is not None
        first = lab.phone(
            "POST", LOGIN_PAGE, form={**form, "password": "wrong", "form_token": token.group(1)}
        )
        assert first.status == 401
        replay = lab.phone("POST", LOGIN_PAGE, form={**form, "form_token": token.group(1)})
        assert replay.status == 400
        assert lab.connect(8080, timeout=1)[0] != "connected"
        # Oversized: a 64 kB password.
        huge = lab.phone(
            "POST", LOGIN_PAGE, form={**form, "password": "x" * 65536}, token_page=LOGIN_PAGE
        )
        assert huge.status == 413
        assert "trop volumineuse" in huge.body
        # The portal is still fine for an honest login.
        assert portal_login(lab, "l.bernard", PASSWORD).status == 200, portal.tail()


_FLOOD = f"""
import http.client, collections
counts = collections.Counter()
page = ""
for _ in range(300):
    c = http.client.HTTPConnection({PORTAL_IP!r}, {PORTAL.rsplit(":", 1)[1]}, timeout=5)
    try:
        c.request("POST", "/login", body="login=x&password=y", headers={{
            "Content-Type": "application/x-www-form-urlencoded"}})
        response = c.getresponse()
        counts[response.status] += 1
        body = response.read().decode()
        if response.status == 429:
            page = body
    except OSError:
        counts["error"] += 1
    finally:
        c.close()
import json; print(json.dumps({{"page": page, **{{str(k): v for k, v in counts.items()}}}}))
"""


def test_a_flooding_phone_is_slowed_and_another_session_is_untouched(
    lab: Lab, tmp_path: Path
) -> None:
    _, path = portal_config(lab, tmp_path)
    add_user(path, "b.autre", "pupil", "5B", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        assert portal_login(lab, "b.autre", PASSWORD, ns=lab.other).status == 200
        counts = json.loads(run(sys.executable, "-c", _FLOOD, ns=lab.client).stdout)
        assert counts.get("429", 0) > 200, counts
        # The flood is refused with a page that says why.
        assert "Patientez une minute" in counts["page"]
        # The other phone's session and pages are untouched.
        assert lab.connect(8080, ns=lab.other)[0] == "connected"
        status = phone_request(lab.other, lab.other_jar, "GET", f"{PORTAL}/status")
        assert status.status == 200, portal.tail()

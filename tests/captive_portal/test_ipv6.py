"""IPv6 on the BYOD network: router advertisements carrying the RFC 8908 API
(RA option 37), DHCPv6 option 103, and forwarding only for logged-in devices,
whatever IPv6 addresses they pick (issue #4 scopes 1-2; RFC 8910)."""

from __future__ import annotations

import ipaddress
import re
import sys
from pathlib import Path

import pytest
from scapy.layers.inet6 import (
    ICMPv6ND_RA,
    ICMPv6NDOptCaptivePortal,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptRDNSS,
)

from tests.captive_portal.conftest import (
    PORTAL,
    PORTAL_IP6,
    SMALL_BYTES,
    WAN_IP6,
    Lab,
    add_user,
    portal_config,
    portal_login,
    run,
    running_portal,
    state_rows,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)
PASSWORD = "pupil-password-1"
API = f"{PORTAL}/api/captive"

_SOLICIT = r"""
import socket, struct, sys
iface = sys.argv[1]
index = socket.if_nametoindex(iface)
sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
sock.settimeout(5)
sock.sendto(bytes([133, 0, 0, 0, 0, 0, 0, 0]), ("ff02::2", 0, 0, index))
while True:
    data = sock.recv(4096)
    if data[0] == 134:
        print(data.hex())
        break
"""

_INFORMATION_REQUEST = r"""
import socket, sys
from scapy.layers.dhcp6 import DHCP6_InfoRequest, DHCP6_Reply, DHCP6OptClientId, DHCP6OptOptReq
from scapy.layers.dhcp6 import DUID_LL
iface = sys.argv[1]
mac = open(f"/sys/class/net/{iface}/address").read().strip()
index = socket.if_nametoindex(iface)
sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
sock.bind(("::", 546, 0, index))
sock.settimeout(5)
ask = DHCP6_InfoRequest(trid=7) / DHCP6OptClientId(duid=DUID_LL(lladdr=mac))
ask = ask / DHCP6OptOptReq(reqopts=[23, 103])
for _ in range(10):
    sock.sendto(bytes(ask), ("ff02::1:2", 547, 0, index))
    try:
        data = sock.recv(4096)
        break
    except TimeoutError:
        continue
reply = DHCP6_Reply(data)
option = reply.getlayer("DHCP6 Option - Captive-Portal")
print(option.URI.decode() if option is not None else "none")
"""


def test_ra_and_dhcpv6_announce_the_api_and_only_logged_in_devices_get_ipv6(
    lab: Lab, tmp_path: Path
) -> None:
    config, path = portal_config(lab, tmp_path, ipv6_prefix="fd77::/64", address6=PORTAL_IP6)
    add_user(path, "l.bernard", "pupil", "6A", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        # A router solicitation gets an advertisement with the prefix, the DNS
        # server and the captive-portal API.
        ra = bytes.fromhex(run(sys.executable, "-c", _SOLICIT, lab.client_if, ns=lab.client).stdout)
        # Parsed by scapy, not by the portal's own code: an independent reading.
        advert = ICMPv6ND_RA(ra)
        portal_option = advert.getlayer(ICMPv6NDOptCaptivePortal)
        assert portal_option is not None
        assert portal_option.URI.rstrip(b"\0").decode() == API
        prefix = advert.getlayer(ICMPv6NDOptPrefixInfo)
        assert prefix is not None
        assert (prefix.prefix, prefix.prefixlen) == ("fd77::", 64)
        rdnss = advert.getlayer(ICMPv6NDOptRDNSS)
        assert rdnss is not None
        assert [ipaddress.IPv6Address(a) for a in rdnss.dns] == [ipaddress.IPv6Address(PORTAL_IP6)]
        assert advert.O == 1  # "other configuration": ask DHCPv6
        # DHCPv6 answers an information request with option 103.
        uri = ""
        for _ in range(10):
            uri = run(
                sys.executable,
                "-c",
                _INFORMATION_REQUEST,
                lab.client_if,
                ns=lab.client,
                check=False,
            ).stdout.strip()
            if uri:
                break
        assert uri == API, portal.tail()
        # Before login, nothing over IPv6 either.
        assert lab.connect(8080, timeout=1, host=WAN_IP6)[0] != "connected"
        assert portal_login(lab, "l.bernard", PASSWORD).status == 200
        # The first packet from a new IPv6 address is refused (the phone falls back
        # to IPv4 at once) and noted; within a second the address is let through.
        assert wait_until(lambda: lab.connect(8080, timeout=1, host=WAN_IP6)[0] == "connected"), (
            portal.tail()
        )
        # Each IPv6 address the phone uses gets its own counted element: a download
        # is counted in full, whichever address the phone picks.
        assert any(
            c.ip.startswith("fd77:") and c.mac == lab.client_mac for c in lab.table.state().clients
        )
        before = state_rows(config, "SELECT COALESCE(SUM(down_bytes), 0) FROM portal_usage")
        outcome, size, _ = lab.fetch(f"http://[{WAN_IP6}]:8080/small.bin")
        assert (outcome, size) == ("ok", SMALL_BYTES)
        assert wait_until(
            lambda: (
                state_rows(config, "SELECT COALESCE(SUM(down_bytes), 0) FROM portal_usage")[0][0]
                >= before[0][0] + SMALL_BYTES
            )
        ), portal.tail()
        # Logging out cuts IPv6 too, at once.
        status = lab.phone("GET", f"{PORTAL}/status")
        token = re.search(r'name="form_token" value="([^"]+)"', status.body)
        assert token is not None
        assert (
            lab.phone("POST", f"{PORTAL}/logout", form={"form_token": token.group(1)}).status == 200
        )
        assert lab.connect(8080, timeout=1, host=WAN_IP6)[0] != "connected"

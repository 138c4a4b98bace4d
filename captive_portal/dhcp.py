"""DHCP for the BYOD network: dnsmasq, DHCP only, announcing the portal (RFC 8910).

Pure renderer plus a tiny runner. DNS stays with Préau's filter (``port=0``
turns dnsmasq's DNS off); option 114 gives devices the RFC 8908 API so they
learn they are captive without guessing from probe URLs. Leases are kept
in ``dhcp.leases`` (the device inventory will read them).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DNSMASQ: Final = "/usr/sbin/dnsmasq"
_MAC: Final = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


@dataclass(frozen=True, slots=True)
class Lease:
    """One line of dnsmasq's lease file."""

    expires: int
    mac: str
    ip: str
    hostname: str


def parse_leases(text: str) -> list[Lease]:
    """Read dnsmasq's lease file; malformed lines are skipped, host names bounded."""
    leases = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].isdigit() or not _MAC.match(fields[1].lower()):
            continue
        try:
            ip = str(ipaddress.ip_address(fields[2]))
        except ValueError:
            continue
        hostname = "" if fields[3] == "*" else fields[3][:63]
        leases.append(Lease(int(fields[0]), fields[1].lower(), ip, hostname))
    return leases


@dataclass(frozen=True, slots=True)
class DhcpSettings:
    """What the BYOD DHCP server hands out."""

    interface: str
    router: str
    dns_server: str
    first: str
    last: str
    lease_minutes: int
    captive_api_url: str
    dns_server6: str = ""  # set: DHCPv6 (stateless) with option 103 too

    def __post_init__(self) -> None:
        """Refuse settings that would put something unexpected in the file."""
        for address in (self.router, self.dns_server, self.first, self.last):
            ipaddress.IPv4Address(address)
        if self.dns_server6:
            ipaddress.IPv6Address(self.dns_server6)
        if not self.captive_api_url.startswith(("https://", "http://")) or any(
            c in self.captive_api_url for c in '"\n\r '
        ):
            raise ValueError(f"captive API URL {self.captive_api_url!r} is not a plain URL")
        if not self.interface.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"interface name {self.interface!r} is not valid")


def render_dnsmasq(settings: DhcpSettings, lease_file: Path) -> str:
    """Return the dnsmasq configuration (DHCP only; DHCPv6 stateless when IPv6 is on).

    DHCPv6 hands out no address ("static" with no hosts: SLAAC does that, from
    the portal's router advertisements); it answers information requests with
    the DNS server and option 103, the RFC 8908 API.
    """
    ipv6 = (
        [
            f"dhcp-range=::,constructor:{settings.interface},static,64",
            f'dhcp-option=option6:103,"{settings.captive_api_url}"',
            f"dhcp-option=option6:dns-server,[{settings.dns_server6}]",
        ]
        if settings.dns_server6
        else []
    )
    return "\n".join(
        [
            "port=0",
            f"interface={settings.interface}",
            "bind-interfaces",
            "dhcp-authoritative",
            f"dhcp-range={settings.first},{settings.last},{settings.lease_minutes}m",
            f"dhcp-option=option:router,{settings.router}",
            f"dhcp-option=option:dns-server,{settings.dns_server}",
            f'dhcp-option=114,"{settings.captive_api_url}"',
            f"dhcp-leasefile={lease_file}",
            *ipv6,
            "",
        ]
    )

"""DHCP for the BYOD network: dnsmasq, DHCP only, announcing the portal (RFC 8910).

Pure renderer plus a tiny runner. DNS stays with Préau's filter (``port=0``
turns dnsmasq's DNS off); option 114 gives devices the RFC 8908 API so they
learn they are captive without guessing from probe URLs. Each lease event
(MAC, address, host name, vendor class, option-55 fingerprint) is appended
by dnsmasq's lease script to a spool the portal reads into the device
inventory.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from captive_portal.config import MAC_ADDRESS

DNSMASQ: Final = "/usr/sbin/dnsmasq"
_MAC: Final = MAC_ADDRESS


_CACHE_HOST: Final = re.compile(r"[A-Za-z0-9.:-]{1,253}")


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
    do_cache_host: str = ""  # set: option 235, Windows Delivery Optimization's cache host

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
        if self.do_cache_host and not _CACHE_HOST.fullmatch(self.do_cache_host):
            raise ValueError(f"cache host {self.do_cache_host!r} is not a host name or address")
        if not self.interface.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"interface name {self.interface!r} is not valid")


@dataclass(frozen=True, slots=True)
class LeaseEvent:
    """A lease given or renewed, as dnsmasq's lease script reports it."""

    mac: str
    ip: str
    hostname: str
    vendor_class: str
    fingerprint: str  # the parameter request list (option 55), e.g. "1,3,6,15,114"


_FINGERPRINT: Final = re.compile(r"^[0-9]{1,3}(,[0-9]{1,3}){0,63}$")


def render_lease_hook(spool: Path) -> str:
    """Return dnsmasq's lease script: one tab-separated line per event, appended to ``spool``.

    Values come from the device: tabs and newlines are removed, the portal
    checks every field again when it reads the spool.
    """
    return (
        "#!/bin/sh\n"
        "# Written by Préau: dnsmasq runs this on each lease; the portal reads the spool.\n"
        '[ "$1" = del ] && exit 0\n'
        'line=$(printf "%s\\t%s\\t%s\\t%s\\t%s" "$2" "$3" "${4:-}" '
        '"$(printf %s "${DNSMASQ_VENDOR_CLASS:-}" | tr -d "\\t\\n")" '
        '"${DNSMASQ_REQUESTED_OPTIONS:-}")\n'
        f'printf "%s\\n" "$line" >> "{spool}"\n'
    )


def parse_lease_events(text: str) -> list[LeaseEvent]:
    """Read the lease spool; a malformed line is skipped, free text is bounded."""
    events = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 5 or not _MAC.match(fields[0].lower()):
            continue
        try:
            ip = str(ipaddress.ip_address(fields[1]))
        except ValueError:
            continue
        hostname, vendor, fingerprint = fields[2], fields[3], fields[4]
        events.append(
            LeaseEvent(
                fields[0].lower(),
                ip,
                "".join(c for c in hostname if c.isprintable())[:63],
                "".join(c for c in vendor if c.isprintable())[:64],
                fingerprint if _FINGERPRINT.match(fingerprint) else "",
            )
        )
    return events


def render_dnsmasq(settings: DhcpSettings, lease_file: Path, lease_hook: Path | None = None) -> str:
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
            *([f'dhcp-option=235,"{settings.do_cache_host}"'] if settings.do_cache_host else []),
            f"dhcp-leasefile={lease_file}",
            *([f"dhcp-script={lease_hook}"] if lease_hook else []),
            *ipv6,
            "",
        ]
    )

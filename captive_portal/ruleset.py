"""The portal's nftables table, and the JSON commands that change its sets.

Pure: no process is run here. The static table is rendered once from
validated settings (interface names and addresses only); at run time only
set elements change, always as JSON objects, never as text built from input.

Clients are authorised by adding ``MAC . IPv4`` to ``auth_v4`` (upload,
counted per element) and the IPv4 to ``auth_v4_down`` (download, counted per
element), both with the session's timeout, so expiry needs no sweeper. Before
authorisation a client may reach the appliance's DHCP, DNS and portal, and the
walled garden; plain HTTP is redirected to the portal, HTTPS gets a TCP reset
at once (so phones do not hang), everything else is rejected.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Final

TABLE: Final = "preau_portal"
FAMILY: Final = "inet"
_IFNAME: Final = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_MAC: Final = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class RulesetError(ValueError):
    """Settings or a client that cannot be put in the table."""


@dataclass(frozen=True, slots=True)
class PortalNetwork:
    """Where the portal sits: BYOD and WAN interfaces, the portal's address."""

    byod_interface: str
    wan_interface: str
    portal_address: str
    portal_http_port: int
    dns_port: int = 53

    def __post_init__(self) -> None:
        """Refuse anything that is not a plain interface name or address."""
        for name in (self.byod_interface, self.wan_interface):
            if not _IFNAME.match(name):
                raise RulesetError(f"interface name {name!r} is not valid")
        ipaddress.IPv4Address(self.portal_address)
        for port in (self.portal_http_port, self.dns_port):
            if not 0 < port < 65536:
                raise RulesetError(f"port {port} is out of range")


def render_table(net: PortalNetwork) -> str:
    """Return the nft script that (re)creates the portal table atomically."""
    byod, wan = net.byod_interface, net.wan_interface
    portal = f"{net.portal_address}:{net.portal_http_port}"
    return f"""table {FAMILY} {TABLE}
delete table {FAMILY} {TABLE}
table {FAMILY} {TABLE} {{
    set auth_v4 {{
        type ether_addr . ipv4_addr
        flags timeout
        counter
    }}
    set auth_v4_down {{
        type ipv4_addr
        flags timeout
        counter
    }}
    set garden_v4 {{
        type ipv4_addr
        flags timeout
    }}
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname "{byod}" ether saddr . ip saddr @auth_v4 return
        iifname "{byod}" ip daddr @garden_v4 return
        iifname "{byod}" ip daddr != {net.portal_address} tcp dport 80 dnat ip to {portal}
    }}
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname "{byod}" udp dport {{ 67, {net.dns_port} }} accept
        iifname "{byod}" tcp dport {{ {net.dns_port}, {net.portal_http_port} }} accept
        iifname "{byod}" ct state established,related accept
        iifname "{byod}" ether saddr . ip saddr @auth_v4 accept
        iifname "{byod}" icmp type echo-request accept
        iifname "{byod}" drop
    }}
    chain forward {{
        type filter hook forward priority filter; policy drop;
        iifname "{wan}" oifname "{byod}" ct state established,related ip daddr @auth_v4_down accept
        iifname "{wan}" oifname "{byod}" ct state established,related accept
        iifname "{byod}" oifname "{wan}" ether saddr . ip saddr @auth_v4 accept
        iifname "{byod}" oifname "{wan}" ip daddr @garden_v4 accept
        iifname "{byod}" tcp dport 443 reject with tcp reset
        iifname "{byod}" reject with icmpx type admin-prohibited
    }}
}}
"""


def _mac(value: str) -> str:
    mac = value.lower()
    if not _MAC.match(mac):
        raise RulesetError(f"{value!r} is not a MAC address")
    return mac


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError as err:
        raise RulesetError(f"{value!r} is not an IPv4 address") from err


def _element(name: str, elements: list[Any]) -> dict[str, Any]:
    return {"element": {"family": FAMILY, "table": TABLE, "name": name, "elem": elements}}


def authorise(mac: str, ip: str, seconds: int) -> list[dict[str, Any]]:
    """Return the commands that let ``mac``/``ip`` through for ``seconds``."""
    if not 0 < seconds <= 7 * 86_400:
        raise RulesetError("session length out of range")
    pair = {"concat": [_mac(mac), _ipv4(ip)]}
    return [
        {"add": _element("auth_v4", [{"elem": {"val": pair, "timeout": seconds}}])},
        {"add": _element("auth_v4_down", [{"elem": {"val": _ipv4(ip), "timeout": seconds}}])},
    ]


def deauthorise(mac: str, ip: str) -> list[dict[str, Any]]:
    """Return the commands that cut ``mac``/``ip`` off."""
    pair = {"concat": [_mac(mac), _ipv4(ip)]}
    return [
        {"delete": _element("auth_v4", [pair])},
        {"delete": _element("auth_v4_down", [_ipv4(ip)])},
    ]


@dataclass(frozen=True, slots=True)
class ClientCounters:
    """Bytes through the portal for one authorised client."""

    mac: str
    ip: str
    up_bytes: int
    down_bytes: int
    expires_in: int


def parse_counters(up_set: dict[str, Any], down_set: dict[str, Any]) -> list[ClientCounters]:
    """Read ``nft -j list set`` output of both sets into per-client counters."""
    down: dict[str, int] = {}
    for item in _elements(down_set):
        elem = item.get("elem", {})
        down[str(elem.get("val"))] = int(elem.get("counter", {}).get("bytes", 0))
    found = []
    for item in _elements(up_set):
        elem = item.get("elem", {})
        mac, ip = elem["val"]["concat"]
        found.append(
            ClientCounters(
                mac=mac,
                ip=ip,
                up_bytes=int(elem.get("counter", {}).get("bytes", 0)),
                down_bytes=down.get(ip, 0),
                expires_in=int(elem.get("expires", 0)),
            )
        )
    return found


def _elements(listing: dict[str, Any]) -> list[dict[str, Any]]:
    for entry in listing.get("nftables", []):
        if "set" in entry:
            items = entry["set"].get("elem", [])
            return [e if isinstance(e, dict) else {"elem": {"val": e}} for e in items]
    return []

"""The box's network interfaces, and whether a request comes from the administration LAN."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import psutil

Network = ipaddress.IPv4Interface | ipaddress.IPv6Interface
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Interface:
    """One network interface of the box, as the first-run page shows it."""

    name: str
    mac: str
    up: bool
    networks: tuple[Network, ...]

    def addresses(self) -> list[str]:
        """Return its addresses with their prefix, IPv4 first."""
        ordered = sorted(self.networks, key=lambda net: (net.version, str(net)))
        return [str(net) for net in ordered]


def _network(address: str, netmask: str | None) -> Network | None:
    address = address.split("%", 1)[0]
    if not netmask:
        return None
    try:
        if ":" in address:
            prefix = ipaddress.IPv6Network(f"::/{netmask}").prefixlen
            return ipaddress.IPv6Interface(f"{address}/{prefix}")
        return ipaddress.IPv4Interface(f"{address}/{netmask}")
    except ValueError:
        return None


def read_interfaces() -> list[Interface]:
    """Return the box's interfaces but loopback, by name (blocking: call in the executor)."""
    stats = psutil.net_if_stats()
    found = []
    for name, entries in sorted(psutil.net_if_addrs().items()):
        if name == "lo":
            continue
        mac = ""
        networks = []
        for entry in entries:
            if entry.family == psutil.AF_LINK:
                mac = entry.address
            elif entry.family in (socket.AF_INET, socket.AF_INET6):
                network = _network(entry.address, entry.netmask)
                if network is not None:
                    networks.append(network)
        up = stats[name].isup if name in stats else False
        found.append(Interface(name, mac, up, tuple(networks)))
    return found


def _address(remote: str | None) -> Address | None:
    if not remote:
        return None
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def admin_lan_source(remote: str | None, interfaces: list[Interface], admin: str) -> bool:
    """Say whether a request from ``remote`` comes from the administration LAN.

    Loopback always does (the box's own console). Otherwise the address must be
    private (RFC 1918, ULA, link-local) and on a network the box is directly
    connected to: on ``admin``'s networks once the referent chose it, on any
    interface's before. A school's WAN is often private too: before the first
    run the install code, not the address, is what keeps others out.
    """
    address = _address(remote)
    if address is None:
        return False
    if address.is_loopback:
        return True
    if not (address.is_private or address.is_link_local):
        return False
    for interface in interfaces:
        if admin and interface.name != admin:
            continue
        if any(address in network.network for network in interface.networks):
            return True
    return False

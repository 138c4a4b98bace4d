"""The box's network interfaces, and whether a request comes from the administration LAN."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

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


SIOCGIFADDR: Final = 0x8915
SIOCGIFNETMASK: Final = 0x891B
SYS_NET: Final = Path("/sys/class/net")
IF_INET6: Final = Path("/proc/net/if_inet6")


def _ipv4(name: str) -> Network | None:
    """Return an interface's IPv4 address and prefix (the ioctl ifconfig uses)."""
    request = struct.pack("256s", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            address = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)[20:24]
            netmask = fcntl.ioctl(sock.fileno(), SIOCGIFNETMASK, request)[20:24]
        except OSError:  # no IPv4 address
            return None
    return ipaddress.IPv4Interface(f"{socket.inet_ntoa(address)}/{socket.inet_ntoa(netmask)}")


def _ipv6() -> dict[str, list[Network]]:
    """Return each interface's IPv6 addresses, from /proc/net/if_inet6."""
    found: dict[str, list[Network]] = {}
    try:
        lines = IF_INET6.read_text(encoding="ascii").splitlines()
    except OSError:  # IPv6 disabled
        return found
    for line in lines:
        fields = line.split()
        if len(fields) != 6:
            continue
        address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        found.setdefault(fields[5], []).append(
            ipaddress.IPv6Interface(f"{address}/{int(fields[2], 16)}")
        )
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def read_interfaces() -> list[Interface]:
    """Return the box's interfaces but loopback, by name (blocking: call in the executor).

    Read from /sys, /proc and the SIOCGIFADDR ioctl rather than netlink: the
    web unit may not open netlink sockets (``RestrictAddressFamilies``), and
    this page is the only reason it would.
    """
    ipv6 = _ipv6()
    found = []
    for folder in sorted(SYS_NET.iterdir()):
        name = folder.name
        if name == "lo" or not (folder / "address").exists():
            continue
        networks: list[Network] = []
        ipv4 = _ipv4(name)
        if ipv4 is not None:
            networks.append(ipv4)
        networks += ipv6.get(name, [])
        flags = _read(folder / "flags")
        up = bool(int(flags, 16) & 1) if flags else False
        found.append(Interface(name, _read(folder / "address"), up, tuple(networks)))
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


def local_address_on(local: str, interfaces: list[Interface], admin: str) -> bool:
    """Say whether ``local`` (where a request arrived) is loopback or an address of ``admin``."""
    address = _address(local)
    if address is None:
        return False
    if address.is_loopback:
        return True
    return any(
        address == network.ip
        for interface in interfaces
        if interface.name == admin
        for network in interface.networks
    )

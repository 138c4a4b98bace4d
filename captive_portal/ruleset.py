"""The portal's nftables table, and the JSON commands that change its sets.

Pure: no process is run here. The static table is rendered once from
validated settings (interface names, addresses, rate tiers); at run time only
set elements change, always as JSON objects, never as text built from input.

Clients are authorised by adding ``MAC . IP`` to ``auth_v4``/``auth_v6``
(upload, counted per element) and the IP to ``auth_v4_down``/``auth_v6_down``
(download, counted per element), with the session's timeout, so expiry needs
no sweeper. Before authorisation a client may reach the appliance's DHCP, DNS
and portal, and the walled garden; plain HTTP is redirected to the portal,
HTTPS gets a TCP reset at once (so phones do not hang), everything else is
rejected. Only the forward chain looks the sets up positively, so only traffic
to the internet moves the per-element counters (accounting and idleness);
the portal, DNS and other local services do not. ``blocked_v4`` holds devices
of a class under a teacher's "block all"; ``rate_N`` sets hold devices limited
to N kB/s (a role's rate, or the fair-use rate after a quota), each with a
per-address meter.

:func:`reconcile` compares what the kernel holds with what the sessions want
and returns the commands that make them equal, so it can run any number of
times (at start, after an admin action, at every sweep).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from captive_portal.config import MAC_ADDRESS

TABLE: Final = "preau_portal"
FAMILY: Final = "inet"
MAX_SECONDS: Final = 7 * 86_400
# An element whose kernel timeout differs from the session's by more than this
# was extended or shortened by an admin: it is put back with the new timeout.
TIMEOUT_SLACK_SECONDS: Final = 30
_IFNAME: Final = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_MAC: Final = MAC_ADDRESS


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
    portal_https_port: int = 443
    rates: tuple[int, ...] = ()
    ipv6_prefix: str = ""  # e.g. fd77::/64; empty: no IPv6 is forwarded

    def __post_init__(self) -> None:
        """Refuse anything that is not a plain interface name, address or number."""
        for name in (self.byod_interface, self.wan_interface):
            if not _IFNAME.match(name):
                raise RulesetError(f"interface name {name!r} is not valid")
        ipaddress.IPv4Address(self.portal_address)
        for port in (self.portal_http_port, self.dns_port, self.portal_https_port):
            if not 0 < port < 65536:
                raise RulesetError(f"port {port} is out of range")
        for rate in self.rates:
            if not isinstance(rate, int) or not 0 < rate <= 10_000_000:
                raise RulesetError(f"rate {rate!r} is out of range")
        if self.ipv6_prefix:
            try:
                ipaddress.IPv6Network(self.ipv6_prefix)
            except ValueError as err:
                raise RulesetError(f"IPv6 prefix {self.ipv6_prefix!r} is not valid") from err


def rate_tier(net: PortalNetwork, rate: int) -> str:
    """Return the nft commands adding the ``rate_N`` set, its meters and its rules.

    Tiers live in the ``ratelimit`` chain, so a rate chosen later in the admin
    UI is added at run time without reloading the table (and its counters).
    """
    if not isinstance(rate, int) or not 0 < rate <= 10_000_000:
        raise RulesetError(f"rate {rate!r} is out of range")
    table = f"{FAMILY} {TABLE}"
    limit = f"limit rate over {rate} kbytes/second burst {rate} kbytes"
    meter = "{ type ipv4_addr; flags dynamic,timeout; timeout 1m; }"
    return (
        f"add set {table} rate_{rate} {{ type ipv4_addr; flags timeout; }}\n"
        f"add set {table} meter_up_{rate} {meter}\n"
        f"add set {table} meter_down_{rate} {meter}\n"
        f'add rule {table} ratelimit iifname "{net.byod_interface}" ip saddr @rate_{rate} '
        f"update @meter_up_{rate} {{ ip saddr {limit} }} drop\n"
        f'add rule {table} ratelimit oifname "{net.byod_interface}" ip daddr @rate_{rate} '
        f"update @meter_down_{rate} {{ ip daddr {limit} }} drop\n"
    )


def render_table(net: PortalNetwork) -> str:
    """Return the nft script that (re)creates the portal table atomically."""
    byod, wan = net.byod_interface, net.wan_interface
    portal = f"{net.portal_address}:{net.portal_http_port}"
    tiers = "".join(rate_tier(net, rate) for rate in sorted(set(net.rates)))
    # An authorised device's IPv6 addresses (SLAAC, privacy) are not known in
    # advance: a packet from a new one is noted in seen_v6 and refused (the
    # phone falls back to IPv4 at once); within a second the portal gives the
    # address its own counted auth_v6 element. Nothing passes uncounted.
    learn_v6 = (
        f'        iifname "{byod}" oifname "{wan}" ether saddr @auth_mac ip6 saddr '
        f"{net.ipv6_prefix} update @seen_v6 {{ ether saddr . ip6 saddr }}\n"
        if net.ipv6_prefix
        else ""
    )
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
    set auth_v6 {{
        type ether_addr . ipv6_addr
        flags timeout
        counter
    }}
    set auth_v6_down {{
        type ipv6_addr
        flags timeout
        counter
    }}
    set auth_mac {{
        type ether_addr
        flags timeout
    }}
    set seen_v6 {{
        type ether_addr . ipv6_addr
        flags dynamic,timeout
        timeout 10m
    }}
    set garden_v4 {{
        type ipv4_addr
        flags timeout
    }}
    set blocked_v4 {{
        type ipv4_addr
        flags timeout
    }}
    chain ratelimit {{
    }}
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname "{byod}" ip daddr != {net.portal_address} tcp dport 80 ip daddr != @garden_v4 \
ether saddr . ip saddr != @auth_v4 dnat ip to {portal}
    }}
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname "{byod}" udp dport {{ 67, {net.dns_port} }} accept
        iifname "{byod}" udp dport 547 accept
        iifname "{byod}" tcp dport {{ {net.dns_port}, {net.portal_http_port}, \
{net.portal_https_port} }} accept
        iifname "{byod}" ct state established,related accept
        iifname "{byod}" icmp type echo-request accept
        iifname "{byod}" icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert, \
nd-router-solicit, echo-request }} accept
        iifname "{byod}" ether saddr . ip saddr != @auth_v4 drop
        iifname "{byod}" ether saddr . ip6 saddr != @auth_v6 drop
    }}
    chain forward {{
        type filter hook forward priority filter; policy drop;
        iifname "{wan}" oifname "{byod}" ip daddr @blocked_v4 drop
        iifname "{byod}" ip saddr @blocked_v4 tcp dport 443 reject with tcp reset
        iifname "{byod}" ip saddr @blocked_v4 reject with icmpx type admin-prohibited
        jump ratelimit
        iifname "{wan}" oifname "{byod}" ct state established,related ip daddr \
@auth_v4_down accept
        iifname "{wan}" oifname "{byod}" ct state established,related ip6 daddr \
@auth_v6_down accept
        iifname "{wan}" oifname "{byod}" ct state established,related accept
        iifname "{byod}" oifname "{wan}" ether saddr . ip saddr @auth_v4 accept
        iifname "{byod}" oifname "{wan}" ether saddr . ip6 saddr @auth_v6 accept
{learn_v6}        iifname "{byod}" oifname "{wan}" ip daddr @garden_v4 accept
        iifname "{byod}" tcp dport 443 reject with tcp reset
        iifname "{byod}" reject with icmpx type admin-prohibited
    }}
}}
{tiers}"""


def _mac(value: str) -> str:
    mac = value.lower()
    if not _MAC.match(mac):
        raise RulesetError(f"{value!r} is not a MAC address")
    return mac


def _ip(value: str) -> tuple[str, int]:
    try:
        address = ipaddress.ip_address(value)
    except ValueError as err:
        raise RulesetError(f"{value!r} is not an IP address") from err
    return str(address), address.version


def _ipv4(value: str) -> str:
    text, version = _ip(value)
    if version != 4:
        raise RulesetError(f"{value!r} is not an IPv4 address")
    return text


def _element(name: str, elements: list[Any]) -> dict[str, Any]:
    return {"element": {"family": FAMILY, "table": TABLE, "name": name, "elem": elements}}


def _seconds(seconds: int) -> int:
    if not 0 < seconds <= MAX_SECONDS:
        raise RulesetError("session length out of range")
    return seconds


def authorise(mac: str, ip: str, seconds: int) -> list[dict[str, Any]]:
    """Return the commands that let ``mac``/``ip`` (v4 or v6) through for ``seconds``."""
    address, version = _ip(ip)
    pair = {"concat": [_mac(mac), address]}
    timeout = _seconds(seconds)
    return [
        {"add": _element(f"auth_v{version}", [{"elem": {"val": pair, "timeout": timeout}}])},
        {
            "add": _element(
                f"auth_v{version}_down", [{"elem": {"val": address, "timeout": timeout}}]
            )
        },
    ]


def deauthorise(mac: str, ip: str) -> list[dict[str, Any]]:
    """Return the commands that cut ``mac``/``ip`` off."""
    address, version = _ip(ip)
    pair = {"concat": [_mac(mac), address]}
    return [
        {"delete": _element(f"auth_v{version}", [pair])},
        {"delete": _element(f"auth_v{version}_down", [address])},
    ]


def authorise_mac(mac: str, seconds: int) -> dict[str, Any]:
    """Return the command letting ``mac``'s IPv6 addresses be learned for ``seconds``."""
    return {
        "add": _element("auth_mac", [{"elem": {"val": _mac(mac), "timeout": _seconds(seconds)}}])
    }


def deauthorise_mac(mac: str) -> dict[str, Any]:
    """Return the command that stops learning ``mac``'s IPv6 addresses."""
    return {"delete": _element("auth_mac", [_mac(mac)])}


def _timed(name: str, ip: str, seconds: int) -> dict[str, Any]:
    return {"add": _element(name, [{"elem": {"val": _ipv4(ip), "timeout": _seconds(seconds)}}])}


def _remove(name: str, ip: str) -> dict[str, Any]:
    return {"delete": _element(name, [_ipv4(ip)])}


@dataclass(frozen=True, slots=True)
class ClientCounters:
    """Bytes through the portal for one authorised client address."""

    mac: str
    ip: str
    up_bytes: int
    down_bytes: int
    expires_in: int


@dataclass(frozen=True, slots=True)
class KernelState:
    """What the portal table holds now."""

    clients: list[ClientCounters] = field(default_factory=list)
    blocked: dict[str, int] = field(default_factory=dict)  # ip → seconds left
    garden: dict[str, int] = field(default_factory=dict)  # ip → seconds left
    macs: dict[str, int] = field(default_factory=dict)  # authorised MAC → seconds left
    seen_v6: set[tuple[str, str]] = field(default_factory=set)  # (MAC, IPv6) seen passing
    rates: dict[int, set[str]] = field(default_factory=dict)  # kB/s → ips


def _set_items(entry: dict[str, Any]) -> list[dict[str, Any]]:
    items = entry.get("elem", [])
    return [e["elem"] if isinstance(e, dict) and "elem" in e else {"val": e} for e in items]


def parse_seen_v6(listing: dict[str, Any]) -> set[tuple[str, str]]:
    """Read ``nft -j list set … seen_v6`` into (MAC, IPv6) pairs."""
    return parse_table(listing).seen_v6


def parse_table(listing: dict[str, Any]) -> KernelState:
    """Read ``nft -j list table`` output into counters, blocked and rate-limited clients."""
    sets = {
        entry["set"]["name"]: _set_items(entry["set"])
        for entry in listing.get("nftables", [])
        if "set" in entry
    }
    state = KernelState()
    for version in (4, 6):
        down = {
            str(item["val"]): int(item.get("counter", {}).get("bytes", 0))
            for item in sets.get(f"auth_v{version}_down", [])
        }
        for item in sets.get(f"auth_v{version}", []):
            mac, ip = item["val"]["concat"]
            state.clients.append(
                ClientCounters(
                    mac=mac,
                    ip=ip,
                    up_bytes=int(item.get("counter", {}).get("bytes", 0)),
                    down_bytes=down.get(ip, 0),
                    expires_in=int(item.get("expires", 0)),
                )
            )
    for item in sets.get("blocked_v4", []):
        state.blocked[str(item["val"])] = int(item.get("expires", 0))
    for item in sets.get("auth_mac", []):
        state.macs[str(item["val"])] = int(item.get("expires", 0))
    for item in sets.get("seen_v6", []):
        mac, ip = item["val"]["concat"]
        state.seen_v6.add((str(mac), str(ip)))
    for item in sets.get("garden_v4", []):
        state.garden[str(item["val"])] = int(item.get("expires", 0))
    for name, items in sets.items():
        if name.startswith("rate_"):
            state.rates[int(name.removeprefix("rate_"))] = {str(i["val"]) for i in items}
    return state


@dataclass(frozen=True, slots=True)
class Wanted:
    """One client address the sessions want open, for how long, at which rate."""

    mac: str
    ip: str
    seconds: int
    rate: int | None = None


def reconcile(
    kernel: KernelState,
    wanted: Iterable[Wanted],
    blocked: Mapping[str, int],
) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    """Return the commands making the kernel equal to the sessions, and the re-added pairs.

    A re-added pair's counters restart at zero; the caller resets its baseline.
    """
    commands: list[dict[str, Any]] = []
    readded: set[tuple[str, str]] = set()
    want = {(w.mac.lower(), str(ipaddress.ip_address(w.ip))): w for w in wanted}
    have = {(c.mac.lower(), c.ip): c for c in kernel.clients}
    for key, client in have.items():
        target = want.get(key)
        if target is None:
            commands += deauthorise(*key)
        elif abs(client.expires_in - target.seconds) > TIMEOUT_SLACK_SECONDS:
            commands += deauthorise(*key)
            commands += authorise(target.mac, target.ip, target.seconds)
            readded.add(key)
    for key, target in want.items():
        if key not in have:
            commands += authorise(target.mac, target.ip, target.seconds)
    for ip, seconds in blocked.items():
        left = kernel.blocked.get(ip)
        if left is None or abs(left - seconds) > TIMEOUT_SLACK_SECONDS:
            if left is not None:
                commands.append(_remove("blocked_v4", ip))
            commands.append(_timed("blocked_v4", ip, seconds))
    commands += [_remove("blocked_v4", ip) for ip in kernel.blocked if ip not in blocked]
    macs: dict[str, int] = {}
    for (mac, _ip), target in want.items():
        macs[mac] = max(macs.get(mac, 0), target.seconds)
    for mac, seconds in macs.items():
        left = kernel.macs.get(mac)
        if left is None or abs(left - seconds) > TIMEOUT_SLACK_SECONDS:
            if left is not None:
                commands.append(deauthorise_mac(mac))
            commands.append(authorise_mac(mac, seconds))
    commands += [deauthorise_mac(mac) for mac in kernel.macs if mac not in macs]
    rate_of = {w.ip: w.rate for w in want.values() if w.rate is not None and ":" not in w.ip}
    for rate, members in kernel.rates.items():
        commands += [_remove(f"rate_{rate}", ip) for ip in members if rate_of.get(ip) != rate]
    for ip, rate in rate_of.items():
        if ip not in kernel.rates.get(rate, set()):
            seconds = next(w.seconds for w in want.values() if w.ip == ip)
            commands.append(_timed(f"rate_{rate}", ip, seconds))
    return commands, readded


def garden_commands(kernel: KernelState, wanted: Mapping[str, int]) -> list[dict[str, Any]]:
    """Return the commands opening the walled garden's addresses for their TTL.

    Addresses no longer in any answer are left to expire by themselves.
    """
    commands: list[dict[str, Any]] = []
    for ip, seconds in sorted(wanted.items()):
        left = kernel.garden.get(ip)
        if left is not None and left >= seconds - TIMEOUT_SLACK_SECONDS:
            continue
        if left is not None:
            commands.append(_remove("garden_v4", ip))
        commands.append(_timed("garden_v4", ip, seconds))
    return commands

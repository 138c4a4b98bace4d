"""Where the box may connect on someone else's behalf: the one host check and the one address check.

Two questions, asked on every entry point that makes the box open a
connection for a device or a list (the cache's proxy forms, Delivery
Optimization's ``cacheHostOrigin``, pre-staging lists, the HTTPS
pass-through):

* :func:`check_host` — is this text a host name or an IP literal at all?
  It runs before any I/O and refuses with a :class:`HostRefused` that says
  what is wrong (a 400 for HTTP callers).
* :func:`refused_address` — may the box connect to this resolved address?
  Never to loopback, unspecified, link-local, multicast or reserved
  addresses, nor to the box's own addresses (which are looked up from the
  interfaces, so the admin UI, WebDAV and every local port are out of reach
  whatever name or literal points at them). It runs on the addresses the
  connection will actually use, after DNS resolution, so a name that
  resolves to 127.0.0.1 (DNS rebinding) is refused like the literal.

IPv4-mapped and IPv4-compatible IPv6 forms are judged as the IPv4 address
they carry.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import time
from collections.abc import Iterable
from typing import Final

import psutil

_LABEL: Final = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
MAX_HOST: Final = 253
OWN_REFRESH_SECONDS: Final = 30.0

OWN_ADDRESS: Final = "one of the box's own addresses"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class HostRefused(ValueError):
    """A host the box will not use (the message says why, for the person asking)."""


def check_host(text: str) -> str:
    """Return a host name (lower case, no trailing dot) or an IP literal, or refuse it."""
    host = text.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise HostRefused("host: empty")
    try:
        return str(_plain(ipaddress.ip_address(host)))
    except ValueError:
        pass
    host = host.lower().removesuffix(".")
    if len(host) > MAX_HOST or not host.isascii():
        raise HostRefused("host: too long, or not in ASCII (IDN names go in their xn-- form)")
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise HostRefused(f"host: {text[:80]!r} is not a host name")
    if labels[-1].isdigit():
        raise HostRefused(f"host: {text[:80]!r} is neither a host name nor an IP address")
    return host


def _plain(address: IPAddress) -> IPAddress:
    """Return the IPv4 address an IPv4-mapped or -compatible IPv6 address carries."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        packed = address.packed
        if packed[:12] == bytes(12) and int(address) > 1:  # ::a.b.c.d (deprecated)
            return ipaddress.IPv4Address(packed[12:])
    return address


def refused_address(address: str, own: frozenset[IPAddress] = frozenset()) -> str | None:
    """Return why the box must not connect to ``address``, or None when it may."""
    try:
        ip = _plain(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return "not an IP address"
    if ip.is_loopback:
        return "loopback address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_reserved or (isinstance(ip, ipaddress.IPv4Address) and ip == _BROADCAST):
        return "reserved address"
    if ip in own:
        return OWN_ADDRESS
    return None


_BROADCAST: Final = ipaddress.IPv4Address("255.255.255.255")


class OwnAddresses:
    """The box's own addresses (every interface), re-read every few seconds."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        """Start with ``extra`` (e.g. the listeners' addresses) added to the interfaces'."""
        self._extra = [a for a in extra if a]
        self._addresses: frozenset[IPAddress] = frozenset()
        self._read_at = -OWN_REFRESH_SECONDS

    def current(self) -> frozenset[IPAddress]:
        """Return the addresses (IPv4-mapped ones as IPv4), read again when old."""
        now = time.monotonic()
        if now - self._read_at >= OWN_REFRESH_SECONDS:
            found = list(self._extra)
            for entries in psutil.net_if_addrs().values():
                found += [
                    e.address for e in entries if e.family in (socket.AF_INET, socket.AF_INET6)
                ]
            parsed = set()
            for text in found:
                with contextlib.suppress(ValueError):
                    parsed.add(_plain(ipaddress.ip_address(text.split("%", 1)[0])))
            self._addresses = frozenset(parsed)
            self._read_at = now
        return self._addresses

    def refused(self, address: str) -> str | None:
        """Return why ``address`` is refused (see :func:`refused_address`), or None."""
        return refused_address(address, self.current())

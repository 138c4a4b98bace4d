"""IPv6 router advertisements for the BYOD network, with the captive-portal option.

dnsmasq answers DHCPv6 (option 103, RFC 8910) but cannot put option 37 in a
router advertisement, so the portal sends them itself: the BYOD prefix for
SLAAC, the appliance as DNS server (RDNSS, RFC 8106) and the RFC 8908 API
(option 37, RFC 8910), with the O flag telling devices to ask DHCPv6 for the
rest. :func:`router_advertisement` is pure; :class:`RouterAdvertiser` owns
the raw ICMPv6 socket, answers router solicitations and repeats every
:data:`INTERVAL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import time
from typing import Final

_LOGGER = logging.getLogger(__name__)

ROUTER_SOLICITATION: Final = 133
ROUTER_ADVERTISEMENT: Final = 134
OPTION_SOURCE_LINK_LAYER: Final = 1
OPTION_PREFIX: Final = 3
OPTION_RDNSS: Final = 25
OPTION_CAPTIVE_PORTAL: Final = 37
INTERVAL_SECONDS: Final = 200.0
MIN_REPLY_GAP_SECONDS: Final = 3.0  # RFC 4861 MIN_DELAY_BETWEEN_RAS
ROUTER_LIFETIME: Final = 1800
_OTHER_CONFIG: Final = 0x40
_ON_LINK_AUTONOMOUS: Final = 0xC0


def _option(kind: int, body: bytes) -> bytes:
    """Return an ND option padded to a multiple of 8 octets."""
    raw = bytes([kind, 0]) + body
    raw += bytes(-len(raw) % 8)
    return bytes([kind, len(raw) // 8]) + raw[2:]


def router_advertisement(
    *, mac: str, prefix: str, dns_server: str, api_url: str, lifetime: int = ROUTER_LIFETIME
) -> bytes:
    """Return the ICMPv6 router advertisement (the kernel fills in the checksum)."""
    network = ipaddress.IPv6Network(prefix)
    if network.prefixlen != 64:
        raise ValueError("SLAAC needs a /64 prefix")
    url = api_url.encode("ascii")
    if not api_url.startswith(("https://", "http://")) or len(url) > 1000:
        raise ValueError(f"captive API URL {api_url!r} is not a plain URL")
    header = struct.pack("!BBHBBHII", ROUTER_ADVERTISEMENT, 0, 0, 64, _OTHER_CONFIG, lifetime, 0, 0)
    options = _option(OPTION_SOURCE_LINK_LAYER, bytes.fromhex(mac.replace(":", "")))
    options += _option(
        OPTION_PREFIX,
        struct.pack("!BBIII", 64, _ON_LINK_AUTONOMOUS, 86_400, 14_400, 0)
        + network.network_address.packed,
    )
    options += _option(
        OPTION_RDNSS,
        bytes(2) + struct.pack("!I", lifetime) + ipaddress.IPv6Address(dns_server).packed,
    )
    options += _option(OPTION_CAPTIVE_PORTAL, url)
    return header + options


def parse_options(packet: bytes) -> dict[int, bytes]:
    """Return a router advertisement's options by type (their bodies, padding kept)."""
    if len(packet) < 16 or packet[0] != ROUTER_ADVERTISEMENT:
        raise ValueError("not a router advertisement")
    found: dict[int, bytes] = {}
    offset = 16
    while offset + 2 <= len(packet):
        kind, units = packet[offset], packet[offset + 1]
        if units == 0:
            raise ValueError("option of length zero")
        found[kind] = packet[offset + 2 : offset + units * 8]
        offset += units * 8
    return found


class RouterAdvertiser:
    """Send router advertisements on one interface; answer solicitations."""

    def __init__(self, interface: str, packet: bytes) -> None:
        """Prepare to advertise ``packet`` on ``interface``."""
        self._interface = interface
        self._packet = packet
        self._sock: socket.socket | None = None
        self._last = 0.0
        self._task: asyncio.Task[None] | None = None
        self._reply: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        """Open the socket, advertise once, then keep advertising."""
        index = socket.if_nametoindex(self._interface)
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self._interface.encode())
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.setsockopt(
            socket.IPPROTO_IPV6,
            socket.IPV6_JOIN_GROUP,
            ipaddress.IPv6Address("ff02::2").packed + struct.pack("@I", index),
        )
        sock.setblocking(False)
        self._sock, self._index = sock, index
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)
        self._task = asyncio.create_task(self._repeat(), name="preau-portal-ra")

    async def stop(self) -> None:
        """Stop advertising and close the socket."""
        if self._reply is not None:
            self._reply.cancel()
            self._reply = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()

    def _send(self) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto(self._packet, ("ff02::1", 0, 0, self._index))
            self._last = time.monotonic()
        except OSError as err:
            _LOGGER.warning("Router advertisement not sent on %s: %s", self._interface, err)

    def _readable(self) -> None:
        if self._sock is None:
            return
        try:
            data = self._sock.recv(2048)
        except OSError:
            return
        # A phone joining asks at once; answer, not more often than RFC 4861 allows
        # (§6.2.6): a solicitation too close to the last advertisement gets the next
        # one as soon as the gap allows, never silence until the periodic one.
        if data[:1] == bytes([ROUTER_SOLICITATION]):
            wait = self._last + MIN_REPLY_GAP_SECONDS - time.monotonic()
            if wait <= 0:
                self._send()
            elif self._reply is None:
                self._reply = asyncio.get_running_loop().call_later(wait, self._send_reply)

    def _send_reply(self) -> None:
        self._reply = None
        self._send()

    async def _repeat(self) -> None:
        while True:
            self._send()
            await asyncio.sleep(INTERVAL_SECONDS)

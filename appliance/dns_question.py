"""Ask one resolver, by its address, for a name's IPv4 addresses.

For the clients that must not go through the box's own DNS filter: the
cache (the filter steers CDN names to the cache itself) and the system
updater (a box whose filter is down must still fetch its mend). One UDP
question with a random ID; only the answer with that ID, from that address,
is read. dnslib builds and parses: this path is not measured hot.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from typing import Any, Final

import dnslib
from aiohttp.abc import ResolveResult

DNS_TIMEOUT: Final = 2.0


class _Question(asyncio.DatagramProtocol):
    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) >= 2 and int.from_bytes(data[:2], "big") == self.ident:
            if not self.answer.done():
                self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


async def ask_addresses(resolver: tuple[str, int], name: str) -> list[str]:
    """Return the A records RESOLVER gives for NAME (an empty list for none)."""
    loop = asyncio.get_running_loop()
    ident = secrets.randbelow(1 << 16)
    query = dnslib.DNSRecord.question(name, "A")
    query.header.id = ident
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Question(ident), remote_addr=resolver
    )
    try:
        transport.sendto(query.pack())
        raw = await asyncio.wait_for(protocol.answer, DNS_TIMEOUT)
    finally:
        transport.close()
    answer = dnslib.DNSRecord.parse(raw)
    return [str(rr.rdata) for rr in answer.rr if rr.rtype == dnslib.QTYPE.A]


def address_result(name: str, address: str, port: int) -> ResolveResult:
    """Return what an aiohttp resolver answers for NAME at ADDRESS:PORT."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return ResolveResult(hostname=name, host=address, port=port, family=family, proto=0, flags=0)

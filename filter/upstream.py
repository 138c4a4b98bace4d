"""Forwarding to the upstream resolvers (a local unbound in production).

Each upstream query gets a random ID and its own socket, so a random source
port from the kernel (RFC 5452); an answer is accepted only from the upstream
it was sent to, with the same ID and question. Upstreams are tried in order
(failover); a truncated answer is retried over TCP. Identical questions in
flight share one upstream query.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import struct
from typing import Final

from filter import wire

_TCP_LIMIT: Final = 65_535


def parse_endpoint(value: str) -> tuple[str, int]:
    """Split 'ADDRESS:PORT' (IPv6 as [::1]:53)."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class _Answer(asyncio.DatagramProtocol):
    def __init__(self, ident: int, qname: bytes, qtype: int, qclass: int) -> None:
        self.future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._expect = (ident, qname, qtype, qclass)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if self.future.done():
            return
        try:
            ident, _flags, qname, qtype, qclass, _ = wire.walk_response(data)
        except wire.WireError:
            return  # garbage or spoofing attempt: keep waiting for the real answer
        if (ident, qname, qtype, qclass) == self._expect:
            self.future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class Upstreams:
    """Resolve questions through the configured upstreams."""

    def __init__(self, endpoints: list[str], timeout: float) -> None:
        """Keep the upstream list; nothing is opened until a query."""
        self._endpoints = [parse_endpoint(e) for e in endpoints]
        self._timeout = timeout
        self._inflight: dict[tuple[bytes, int, int, bool], asyncio.Future[bytes | None]] = {}
        self.failures = 0
        self.answered = 0

    async def resolve(self, qname: bytes, qtype: int, qclass: int, dnssec_ok: bool) -> bytes | None:
        """Return an upstream answer for the question, or None if all failed."""
        key = (qname, qtype, qclass, dnssec_ok)
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            answer = await self._resolve(qname, qtype, qclass, dnssec_ok)
        except BaseException:
            future.cancel()  # sharers see the cancellation; nothing left unretrieved
            raise
        finally:
            del self._inflight[key]
        future.set_result(answer)
        return answer

    async def _resolve(
        self, qname: bytes, qtype: int, qclass: int, dnssec_ok: bool
    ) -> bytes | None:
        for host, port in self._endpoints:
            ident = secrets.randbits(16)
            query = wire.build_query(ident, qname, qtype, qclass, dnssec_ok=dnssec_ok)
            try:
                answer = await self._udp(host, port, query, ident, qname, qtype, qclass)
                if wire.is_truncated(answer):
                    answer = await self._tcp(host, port, query, ident, qname, qtype, qclass)
            except (OSError, TimeoutError, wire.WireError):
                self.failures += 1
                continue
            self.answered += 1
            return answer
        return None

    async def _udp(
        self,
        host: str,
        port: int,
        query: bytes,
        ident: int,
        qname: bytes,
        qtype: int,
        qclass: int,
    ) -> bytes:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Answer(ident, qname, qtype, qclass), remote_addr=(host, port)
        )
        try:
            transport.sendto(query)
            async with asyncio.timeout(self._timeout):
                return await protocol.future
        finally:
            transport.close()

    async def _tcp(
        self,
        host: str,
        port: int,
        query: bytes,
        ident: int,
        qname: bytes,
        qtype: int,
        qclass: int,
    ) -> bytes:
        async with asyncio.timeout(self._timeout * 2):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(struct.pack("!H", len(query)) + query)
                await writer.drain()
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                answer = await reader.readexactly(length)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        got = wire.walk_response(answer)
        if got[0] != ident or got[2:5] != (qname, qtype, qclass):
            raise wire.WireError("TCP answer does not match the question")
        return answer

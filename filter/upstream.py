"""Forwarding to the upstream resolvers (a local unbound in production).

Each upstream query gets a random ID and goes out on one of a pool of
connected sockets with random source ports that are recycled as they are used
(RFC 5452); an answer is accepted only from the upstream it was sent to, with
the same ID and question. Upstreams are tried in order
(failover); a truncated answer is retried over TCP. Identical questions in
flight share one upstream query.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import struct
import time
from collections import deque
from typing import Final

from appliance.endpoints import split_endpoint
from filter import wire

_TCP_LIMIT: Final = 65_535


# The kernel's one split of ADDRESS:PORT, under the name the filter's modules use.
parse_endpoint = split_endpoint


class _PooledSocket(asyncio.DatagramProtocol):
    """One upstream socket shared by many queries, answers matched by ID and question."""

    def __init__(self, pool: _SocketPool) -> None:
        self.pool = pool
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[bytes, int, int, asyncio.Future[bytes]]] = {}
        self.uses = 0
        self.retired = False

    def close_if_idle(self) -> None:
        """Close a retired socket once no answer is awaited on it."""
        if self.retired and not self.pending and self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            ident, _flags, qname, qtype, qclass, _ = wire.walk_response(data)
        except wire.WireError:
            return  # garbage or spoofing attempt: keep waiting for the real answer
        waiting = self.pending.get(ident)
        if waiting is None or waiting[:3] != (qname, qtype, qclass) or waiting[3].done():
            return
        del self.pending[ident]
        waiting[3].set_result(data)

    def error_received(self, exc: Exception) -> None:
        for *_, future in self.pending.values():
            if not future.done():
                future.set_exception(exc)
        self.pending.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.error_received(exc or ConnectionError("upstream socket closed"))


class _SocketPool:
    """A few connected sockets per upstream, each on its own random source port.

    A socket is replaced after ``RECYCLE_AFTER`` queries, so the source port
    keeps changing (RFC 5452) without paying a socket per query.
    """

    SIZE: Final = 16
    RECYCLE_AFTER: Final = 2000

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._sockets: list[_PooledSocket | None] = [None] * self.SIZE
        self._open: set[_PooledSocket] = set()

    async def _socket(self) -> _PooledSocket:
        slot = secrets.randbelow(self.SIZE)
        current = self._sockets[slot]
        if (
            current is not None
            and current.transport is not None
            and (current.uses < self.RECYCLE_AFTER and not current.transport.is_closing())
        ):
            return current
        if current is not None:
            current.retired = True
            current.close_if_idle()
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: _PooledSocket(self), remote_addr=self._address
        )
        replaced = self._sockets[slot]
        if replaced is not None and replaced is not current:
            # Another query refilled the slot while we waited: retire that one too.
            replaced.retired = True
            replaced.close_if_idle()
        self._sockets[slot] = protocol
        self._open.add(protocol)
        return protocol

    async def ask(
        self, query: bytes, ident: int, qname: bytes, qtype: int, qclass: int, wait_seconds: float
    ) -> bytes:
        sock = await self._socket()
        while ident in sock.pending:
            ident = secrets.randbits(16)
            query = struct.pack("!H", ident) + query[2:]
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        sock.pending[ident] = (qname, qtype, qclass, future)
        sock.uses += 1
        assert sock.transport is not None  # noqa: S101 - set in connection_made
        sock.transport.sendto(query)
        try:
            async with asyncio.timeout(wait_seconds):
                return await future
        finally:
            entry = sock.pending.get(ident)
            if entry is not None and entry[3] is future:
                del sock.pending[ident]
            sock.close_if_idle()
            if sock.retired and not sock.pending:
                self._open.discard(sock)

    def close(self) -> None:
        for sock in self._open:
            if sock.transport is not None:
                sock.transport.close()
        self._open.clear()


class Upstreams:
    """Resolve questions through the configured upstreams."""

    def __init__(self, endpoints: list[str], timeout: float) -> None:
        """Keep the upstream list; nothing is opened until a query."""
        self._endpoints = [parse_endpoint(e) for e in endpoints]
        self._pools = {endpoint: _SocketPool(*endpoint) for endpoint in self._endpoints}
        self._timeout = timeout
        self._inflight: dict[tuple[bytes, int, int, bool], asyncio.Future[bytes | None]] = {}
        self.failures = 0
        self.answered = 0
        self._latencies: deque[float] = deque(maxlen=1000)

    def latency(self, fraction: float) -> float:
        """Return a quantile of recent upstream answer times, in seconds."""
        if not self._latencies:
            return 0.0
        ordered = sorted(self._latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def close(self) -> None:
        """Close the upstream sockets."""
        for pool in self._pools.values():
            pool.close()

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
            started = time.perf_counter()
            ident = secrets.randbits(16)
            query = wire.build_query(ident, qname, qtype, qclass, dnssec_ok=dnssec_ok)
            try:
                answer = await self._pools[(host, port)].ask(
                    query, ident, qname, qtype, qclass, self._timeout
                )
                if wire.is_truncated(answer):
                    answer = await self._tcp(host, port, query, ident, qname, qtype, qclass)
            except (OSError, TimeoutError, wire.WireError):
                self.failures += 1
                continue
            self.answered += 1
            self._latencies.append(time.perf_counter() - started)
            return answer
        return None

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

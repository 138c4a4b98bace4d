"""HTTPS to steered names goes to the real origin, untouched (never intercepted).

DNS steering answers an update CDN's name with the appliance for every port,
so a device's HTTPS to that name arrives here on 443. The listener reads the
ClientHello's server name (:mod:`cache.sni`), refuses names no cache rule
serves (it is no open relay around the DNS filter), connects to the origin
through the cache's own resolver and copies bytes both ways until either side
closes. No certificate, key or plaintext exists on the box.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from cache import sni
from cache.rules import RuleSet
from cache.upstream import OriginLoopError, OriginResolver

_LOGGER = logging.getLogger(__name__)

HELLO_SECONDS: Final = 10.0
IDLE_SECONDS: Final = 300.0
BLOCK: Final = 64 * 1024


class TlsPassthrough:
    """One TCP listener's connections, joined to their origins."""

    def __init__(self, rules: RuleSet, resolver: OriginResolver, connect_timeout: float) -> None:
        """Keep the rules (which names may pass) and the origins' resolver."""
        self.rules = rules
        self.resolver = resolver
        self.connect_timeout = connect_timeout
        self.connections: set[asyncio.Task[None]] = set()
        self.passed = 0
        self.refused = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read the server name, then join the device to its origin."""
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - called by asyncio.start_server
        self.connections.add(task)
        try:
            await self._join(reader, writer)
        except (OSError, TimeoutError, sni.NotClientHello, OriginLoopError) as err:
            self.refused += 1
            _LOGGER.debug("TLS pass-through refused: %r", err)
        finally:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
            self.connections.discard(task)

    async def _join(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello = b""
        while True:
            chunk = await asyncio.wait_for(reader.read(BLOCK), HELLO_SECONDS)
            if not chunk:
                return
            hello += chunk
            try:
                name = sni.server_name(hello)
                break
            except sni.NeedMore:
                if len(hello) > sni.MAX_HELLO:
                    raise sni.NotClientHello("ClientHello too long") from None
        if not name or not self.rules.serves_host(name):
            raise sni.NotClientHello(f"server name {name!r} is not an update CDN")
        addresses = await self.resolver.resolve(name, 443)
        origin_reader, origin_writer = await asyncio.wait_for(
            asyncio.open_connection(addresses[0]["host"], addresses[0]["port"]),
            self.connect_timeout,
        )
        self.passed += 1
        try:
            origin_writer.write(hello)
            async with asyncio.TaskGroup() as group:
                group.create_task(_copy(reader, origin_writer))
                group.create_task(_copy(origin_reader, writer))
        finally:
            origin_writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await origin_writer.wait_closed()

    async def close(self) -> None:
        """End every joined connection."""
        for task in list(self.connections):
            task.cancel()
        for task in list(self.connections):
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until the source closes, then half-close the sink."""
    try:
        while data := await asyncio.wait_for(source.read(BLOCK), IDLE_SECONDS):
            sink.write(data)
            await sink.drain()
    except (OSError, ConnectionError, TimeoutError):
        pass
    finally:
        if sink.can_write_eof():
            with contextlib.suppress(OSError, ConnectionError):
                sink.write_eof()

"""How the cache reaches origins: its own resolver and one HTTP client.

When the DNS filter steers a CDN's names to the appliance, the system
resolver would answer "the appliance" for them too; the cache therefore asks
the recursive resolver (unbound) directly, or uses fixed addresses from the
config. Every address a connection will use is checked after resolution
(:mod:`appliance.destinations`): never loopback, link-local, multicast or the
box's own addresses, whatever name or literal led there (DNS rebinding
included).
"""

from __future__ import annotations

import logging
import socket
from typing import Final

from aiohttp import ClientSession, ClientTimeout, TCPConnector
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from appliance.destinations import OWN_ADDRESS, OwnAddresses
from appliance.dns_question import address_result, ask_addresses
from appliance.endpoints import split_endpoint
from cache.config import CacheConfig, split_origin
from cache.rules import is_ip

_LOGGER = logging.getLogger(__name__)

HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


class OriginRefusedError(OSError):
    """An origin resolves to an address the box never connects to for a device."""


class OriginLoopError(OriginRefusedError):
    """An origin name resolves to the cache itself (a steering loop)."""


class OriginResolver(AbstractResolver):
    """Fixed origins first, then the configured resolver, else the system's."""

    def __init__(self, config: CacheConfig, own: OwnAddresses) -> None:
        """Keep the fixed map, the resolver address and the cache's own addresses."""
        self._fixed = {name.lower().rstrip("."): value for name, value in config.origins.items()}
        self._resolver: tuple[str, int] | None = None
        if config.resolver:
            self._resolver = split_endpoint(config.resolver)
        self._system = ThreadedResolver()
        self._own = own

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Return the origin's addresses; refuse the cache's own."""
        name = host.lower().rstrip(".")
        fixed = self._fixed.get(name)
        if fixed is not None:
            address, fixed_port = split_origin(fixed)
            results = [address_result(name, address, fixed_port or port)]
        elif is_ip(name):
            results = [address_result(name, name, port)]
        elif self._resolver is not None:
            results = [address_result(name, a, port) for a in await self._ask(name)]
        else:
            results = await self._system.resolve(host, port, family)
        for result in results:
            why = self._own.refused(result["host"])
            if why == OWN_ADDRESS:
                raise OriginLoopError(f"{host} resolves to the cache itself")
            if why is not None:
                raise OriginRefusedError(f"{host}: {why}")
        if not results:
            raise OSError(f"{host}: no address")
        return results

    async def _ask(self, name: str) -> list[str]:
        assert self._resolver is not None  # noqa: S101 - checked by the caller
        return await ask_addresses(self._resolver, name)

    async def close(self) -> None:
        """Close the system resolver."""
        await self._system.close()


def open_session(config: CacheConfig, own: OwnAddresses) -> ClientSession:
    """Return the HTTP client for origins (bytes as sent: no decompression)."""
    connector = TCPConnector(
        resolver=OriginResolver(config, own), limit=0, ttl_dns_cache=60, force_close=False
    )
    timeout = ClientTimeout(
        total=None, connect=config.upstream_timeout_s, sock_read=config.upstream_timeout_s
    )
    return ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False, trust_env=False
    )

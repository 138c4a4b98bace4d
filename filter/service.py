"""The filter service: sockets, upstream forwarding and state reloads.

It owns the UDP and TCP listeners and feeds packets to the sans-I/O
:class:`~filter.engine.FilterEngine`. State comes from the state DB and
is reloaded when the change feed says so: compiled lists (swapped in one
assignment between two packets, so no query is lost or half-served),
overrides (in force within the change feed's poll interval, well under a
second) and the portal's address → person table.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final

from appliance.i18n import N_
from appliance.identity import subgroups
from appliance.identity.subgroups import SUBGROUPS_TOPIC
from appliance.network_clients import CLIENTS_TOPIC, network_identities
from appliance.published import publish_metrics
from appliance.service import Health, Service
from cache import steering as cache_steering
from captive_portal.config import PortalConfig
from filter import state as filtering
from filter.class_blocks import OVERRIDES_TOPIC
from filter.clients import Client, ClientMap, Identity
from filter.compiled_list import CompiledList
from filter.config import FilterConfig
from filter.engine import FilterEngine, Forward, TargetedOverride
from filter.lists import ListError
from filter.policy import Decision, Override
from filter.upstream import Upstreams, parse_endpoint

if TYPE_CHECKING:
    from aiohttp import web

    from appliance.core import Core

_LOGGER = logging.getLogger(__name__)

FLUSH_SECONDS: Final = 10.0
TCP_IDLE_SECONDS: Final = 10.0
MAX_PENDING: Final = 4096
RECEIVE_BUFFER: Final = 4 * 1024 * 1024


def load_lists(paths: list[tuple[str, Path]]) -> list[CompiledList]:
    """Map compiled lists (blocking: run in the executor); skip unreadable ones."""
    loaded = []
    for name, path in paths:
        try:
            loaded.append(CompiledList(name, path))
        except ListError as err:
            _LOGGER.error("List %s not loaded: %s", name, err)  # noqa: TRY400
    return loaded


def targeted(row: filtering.OverrideRow, people: frozenset[str] = frozenset()) -> TargetedOverride:
    """Turn a stored override into what the engine matches (``people``: a subgroup's)."""
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    if row.target_kind == "clients":
        networks = tuple(
            ipaddress.ip_network(part.strip(), strict=False) for part in row.target.split(",")
        )
    return TargetedOverride(
        row.target_kind,
        row.target,
        Override(
            id=row.id,
            action=row.action,
            expires_at=row.expires_at,
            domains=frozenset(d.encode() for d in row.domains),
            categories=frozenset(row.categories),
            label=row.reason,
        ),
        networks,
        people,
    )


async def build_engine(core: Core) -> FilterEngine:
    """Return an engine loaded with the state DB's lists, overrides and clients."""
    engine = FilterEngine(core.config.section(FilterConfig))
    steering = core.config.section(FilterConfig).cache_steering
    if steering.enabled:
        names = await core.executor.run(cache_steering.steered_names, core.config)
        engine.set_steering(
            names, steering.ipv4, steering.search_domains, steering.apple_public_ranges
        )
    portal = core.config.section(PortalConfig)
    if portal.enabled and portal.hostname:
        engine.set_local_names({portal.hostname: (portal.address, portal.address6 or "")})
    await reload_lists(core, engine)
    await reload_overrides(core, engine)
    await reload_clients(core, engine)
    return engine


async def reload_lists(core: Core, engine: FilterEngine) -> None:
    """Map the registered lists and swap them in."""
    registered = await filtering.registered_lists(core)
    paths = [(str(entry["name"]), Path(str(entry["path"]))) for entry in registered]
    loaded = await core.executor.run(load_lists, paths)
    previous = engine.set_lists(loaded)
    for old in previous:
        old.close()


async def reload_overrides(core: Core, engine: FilterEngine) -> None:
    """Load the overrides in force."""
    rows = await filtering.active_overrides(core)
    wanted = {int(row.target) for row in rows if row.target_kind == "subgroup"}
    people = await subgroups.members(core, wanted)
    engine.set_overrides(
        [
            targeted(row, people.get(int(row.target), frozenset()))
            if row.target_kind == "subgroup"
            else targeted(row)
            for row in rows
        ]
    )
    engine.set_local_allow(await filtering.local_allow(core))
    # Counts only (no class, no person): what a referent reads when a control seems late.
    _LOGGER.info(
        "Controls in force: %d (%d on groups of pupils, %d pupils in them)",
        len(rows),
        len(wanted),
        sum(len(people.get(group, ())) for group in wanted),
    )


async def reload_clients(core: Core, engine: FilterEngine) -> None:
    """Rebuild the address → group map from config and the portal's table."""
    config = core.config.section(FilterConfig)
    identities = {
        row["address"]: Identity(row["person_id"], row["role"], row["class_name"], row["level"])
        for row in await network_identities(core)
    }
    engine.set_clients(
        ClientMap(
            [
                (ipaddress.ip_network(rule.cidr, strict=False), rule.group)
                for rule in config.networks
            ],
            {client.address: client.group for client in config.static_clients},
            identities,
            pupil_default=config.pupil_default_group,
        )
    )


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a name gets what it gets, for a client or a group."""

    client: Client
    decision: Decision
    overrides: list[Override]


async def explain(core: Core, domain: str, *, group: str = "", address: str = "") -> Explanation:
    """Explain the decision for ``domain`` (raise ValueError naming what is wrong)."""
    if bool(group) == bool(address):
        raise filtering.FilterStateError(
            N_("Donnez un groupe ou l'adresse d'un appareil, pas les deux.")
        )
    if group and group not in {g.name for g in core.config.section(FilterConfig).groups}:
        raise filtering.FilterStateError(N_("group : aucun groupe nommé « %(name)s »"), name=group)
    engine = await build_engine(core)
    try:
        client = engine.clients.resolve(address) if address else Client("-", group)
        now = time.time()
        return Explanation(
            client, engine.explain(domain, client, now), engine.overrides_for(client, now)
        )
    finally:
        for compiled in engine.set_lists([]):
            compiled.close()


class _UdpServer(asyncio.DatagramProtocol):
    def __init__(self, service: FilterService) -> None:
        self._service = service
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self._service.on_udp(self, data, addr)

    def error_received(self, exc: Exception) -> None:
        _LOGGER.debug("UDP error: %s", exc)


class FilterService(Service):
    """Answer DNS for the site's clients, filtered by group and overrides."""

    name: ClassVar[str] = "filter"

    async def async_setup(self) -> None:
        """Load lists, overrides and clients; prepare the upstreams."""
        self.engine = await build_engine(self.core)
        config = self.core.config.section(FilterConfig)
        self.upstreams = Upstreams(config.upstreams, config.upstream_timeout_seconds)
        self._udp: list[asyncio.DatagramTransport] = []
        self._tcp: list[asyncio.Server] = []
        self._pending: set[asyncio.Task[None]] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._blocked_totals: Counter[tuple[str, str]] = Counter()

    async def async_start(self) -> None:
        """Listen on every configured address, UDP and TCP."""
        loop = asyncio.get_running_loop()
        for endpoint in self.core.config.section(FilterConfig).listen:
            host, port = parse_endpoint(endpoint)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpServer(self), local_addr=(host, port), reuse_port=True
            )
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # Absorb bursts (a cart of tablets waking up); the kernel caps this
                # at net.core.rmem_max for an unprivileged service.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            self._udp.append(transport)
            server = await asyncio.start_server(self._on_tcp, host, port, reuse_port=True)
            self._tcp.append(server)
            _LOGGER.info("DNS filter on %s (UDP, TCP)", endpoint)
        self._blockpage: web.AppRunner | None = None
        if self.core.config.section(FilterConfig).blockpage_listen:
            # aiohttp and jinja2 are some 14 MB of the filter's 100 (#15), and
            # the block page is off unless configured: imported only for it.
            from aiohttp import web

            from filter.blockpage import BlockPage

            host, port = parse_endpoint(self.core.config.section(FilterConfig).blockpage_listen)
            self._blockpage = web.AppRunner(
                BlockPage(self.core, self.engine).app(), access_log=None
            )
            await self._blockpage.setup()
            await web.TCPSite(self._blockpage, host, port).start()
        self.core.changes.subscribe(filtering.LISTS_TOPIC, self._lists_changed)
        self.core.changes.subscribe(OVERRIDES_TOPIC, self._overrides_changed)
        self.core.changes.subscribe(SUBGROUPS_TOPIC, self._overrides_changed)
        self.core.changes.subscribe(CLIENTS_TOPIC, self._clients_changed)
        self._flusher = asyncio.create_task(self._flush_forever(), name="preau-filter-flush")

    async def async_stop(self) -> None:
        """Stop listening, drop pending forwards, write the last counters."""
        if self._blockpage is not None:
            await self._blockpage.cleanup()
        for transport in self._udp:
            transport.close()
        for server in self._tcp:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()
        self.upstreams.close()
        for compiled in self.engine.set_lists([]):
            compiled.close()

    async def async_health(self) -> Health:
        """Report lists, cache and upstream state."""
        if self.upstreams.failures and not self.upstreams.answered:
            return Health("degraded", N_("aucun résolveur amont ne répond"))
        return Health(
            "ok",
            N_("%(lists)s listes, %(domains)s domaines, %(cached)s réponses en cache"),
            {
                "lists": len(self.engine.lists),
                "domains": sum(compiled.count for compiled in self.engine.lists),
                "cached": len(self.engine.cache),
            },
        )

    # -- change feed -------------------------------------------------------------------

    async def _lists_changed(self, topic: str) -> None:
        started = time.perf_counter()
        await reload_lists(self.core, self.engine)
        _LOGGER.info("Lists swapped in %.1f ms", (time.perf_counter() - started) * 1000)

    async def _overrides_changed(self, topic: str) -> None:
        await reload_overrides(self.core, self.engine)

    async def _clients_changed(self, topic: str) -> None:
        await reload_clients(self.core, self.engine)

    # -- packets -------------------------------------------------------------------------

    def on_udp(self, server: _UdpServer, data: bytes, addr: tuple[str | object, int]) -> None:
        """Handle one UDP query."""
        address = str(addr[0])
        result = self._handle(data, address, tcp=False)
        if result is None or server.transport is None:
            return
        if not isinstance(result, Forward):
            server.transport.sendto(result, addr)
            return
        if len(self._pending) >= MAX_PENDING:
            return  # overload: shed rather than queue without bound
        task = asyncio.create_task(self._forward_udp(server, result, addr))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _handle(self, packet: bytes, address: str, *, tcp: bool) -> bytes | Forward | None:
        """Run the engine; a fault on one packet drops that packet, never the listener."""
        try:
            return self.engine.handle(packet, address, time.time(), tcp=tcp)
        except Exception:
            self.engine.stats["errors"] += 1
            _LOGGER.exception("Filter: a query could not be answered (dropped)")
            return None

    async def _forward_udp(
        self, server: _UdpServer, forward: Forward, addr: tuple[str | object, int]
    ) -> None:
        answer = await self._resolve(forward)
        if server.transport is not None and not server.transport.is_closing():
            server.transport.sendto(answer, addr)

    async def _resolve(self, forward: Forward) -> bytes:
        query = forward.query
        upstream = await self.upstreams.resolve(
            forward.name, query.qtype, query.qclass, query.dnssec_ok
        )
        return self.engine.finish(forward, upstream, time.time())

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else "unknown"
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE_SECONDS):
                    header = await reader.readexactly(2)
                    (length,) = struct.unpack("!H", header)
                    packet = await reader.readexactly(length)
                result = self._handle(packet, address, tcp=True)
                if result is None:
                    break
                answer = await self._resolve(result) if isinstance(result, Forward) else result
                writer.write(struct.pack("!H", len(answer)) + answer)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass  # idle, truncated frame or gone: close quietly
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # -- counters ----------------------------------------------------------------------

    async def flush(self) -> None:
        """Write aggregate counters and blocked records to the state DB."""
        counters, self.engine.counters = self.engine.counters, type(self.engine.counters)()
        for (group, category, kind), count in counters.items():
            if kind == "b":
                self._blocked_totals[(group, category or "-")] += count
        blocked, self.engine.blocked_log = self.engine.blocked_log, type(self.engine.blocked_log)()
        await filtering.record_traffic(self.core, dict(counters), dict(blocked))
        engine = self.engine
        values: list[tuple[str, str, float]] = [
            ("preau_filter_events_total", f'event="{event}"', float(count))
            for event, count in sorted(engine.stats.items())
        ]
        lookups = engine.cache.hits + engine.cache.misses
        values += [
            ("preau_filter_cache_entries", "", float(len(engine.cache))),
            ("preau_filter_cache_hit_ratio", "", engine.cache.hits / lookups if lookups else 0.0),
            ("preau_filter_list_domains", "", float(sum(c.count for c in engine.lists))),
            ("preau_filter_upstream_answers_total", "", float(self.upstreams.answered)),
            ("preau_filter_upstream_failures_total", "", float(self.upstreams.failures)),
            ("preau_filter_upstream_latency_p50_seconds", "", self.upstreams.latency(0.5)),
            ("preau_filter_upstream_latency_p99_seconds", "", self.upstreams.latency(0.99)),
        ]
        for signal, count in sorted(engine.apple_cache.items()):
            values.append(
                ("preau_filter_apple_cache_queries_total", f'kind="{signal}"', float(count))
            )
            values.append(
                (
                    "preau_filter_apple_cache_last_seen_seconds",
                    f'kind="{signal}"',
                    engine.apple_cache_last.get(signal, 0.0),
                )
            )
        for (group, category), count in sorted(self._blocked_totals.items()):
            values.append(
                (
                    "preau_filter_blocked_total",
                    f'group="{group}",category="{category}"',
                    float(count),
                )
            )
        await publish_metrics(self.core, "filter", values)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception:
                _LOGGER.exception("Could not record filter counters")

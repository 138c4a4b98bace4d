"""The cache service: HTTP listeners in front of the object store and the fills.

Requests arrive three ways, all plain HTTP (TLS is never intercepted):
steered by DNS (``Host`` is the CDN's name), through the proxy set by the
PAC file (absolute-form request line) and in Windows Delivery Optimization's
cache-host form (``?cacheHostOrigin=NAME``). A request the rules do not
cache is relayed as it is. A cached one is answered from the object, whose
missing bytes are fetched once whoever asks (:mod:`cache.fill`); hits and
landed bytes go out with ``sendfile``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar, Final

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from appliance.destinations import HostRefused, OwnAddresses, check_host
from appliance.digests import file_sha256
from appliance.metrics import publish_metrics
from appliance.scheduler.calendar import SchoolCalendar
from appliance.scheduler.jobs import load_calendar
from appliance.service import Health, Service
from appliance.web.security import SERVER_NAME
from cache import publishers
from cache import state as cache_admin
from cache.chunks import RangeNotSatisfiable, content_range, parse_content_range, parse_range
from cache.config import CacheConfig, split_origin
from cache.fill import MAX_REQUEST, CachedObject, FillSettings, Run, TokenBucket
from cache.objects import ObjectMeta, ObjectStore
from cache.passthrough import TlsPassthrough
from cache.prestage import Prestaging
from cache.rules import IMMUTABLE, Rule, RuleSet, is_ip, key_digest, load_rules, normalise_host
from cache.upstream import (
    HOP_BY_HOP,
    OriginLoopError,
    OriginRefusedError,
    OriginResolver,
    open_session,
)

if TYPE_CHECKING:
    from appliance.core import Core

_LOGGER = logging.getLogger(__name__)

DO_ORIGIN: Final = "cacheHostOrigin"
METRICS_SECONDS: Final = 10.0
REPUBLISH_SECONDS: Final = 60.0
CALENDAR_SECONDS: Final = 600.0
TOP_OBJECTS: Final = 50
LOCAL_PATHS: Final = frozenset({"/proxy.pac", "/wpad.dat", "/healthz"})
_NEVER_FORWARDED: Final = frozenset({"host", "cookie", "authorization", "proxy-authorization"})
_KEPT_RESPONSE: Final = ("Content-Type", "ETag", "Last-Modified")


def background_rate(
    config: CacheConfig, calendar: SchoolCalendar | None, now: dt.datetime
) -> float:
    """Return the background fills' budget at ``now`` in bytes per second (0: no limit).

    Without a calendar (an unreadable file) lessons are assumed: the safe side
    for teaching traffic.
    """
    in_class = calendar.is_class_time(now) if calendar is not None else True
    mbit = config.class_hours_rate_mbit if in_class else config.background_rate_mbit
    return mbit * 125_000


class _LoopDetectedError(web.HTTPServerError):
    status_code = 508


@dataclass(slots=True)
class Target:
    """Where a request goes upstream and under which rule."""

    host: str
    url: URL
    rule: Rule | None
    key: str


class _Traffic:
    """Bytes and requests per content class: totals since start, and deltas to store."""

    def __init__(self) -> None:
        self.served: Counter[str] = Counter()
        self.fetched: Counter[str] = Counter()
        self.requests: Counter[tuple[str, str]] = Counter()
        self._pending: dict[str, Counter[str]] = {}

    def _add(self, content_class: str, what: str, count: int) -> None:
        self._pending.setdefault(content_class, Counter())[what] += count

    def on_fetched(self, content_class: str, count: int) -> None:
        self.fetched[content_class] += count
        self._add(content_class, "fetched", count)

    def on_served(self, content_class: str, count: int) -> None:
        self.served[content_class] += count
        self._add(content_class, "served", count)

    def on_request(self, content_class: str, outcome: str) -> None:
        self.requests[content_class, outcome] += 1
        if outcome in ("hit", "miss"):
            self._add(content_class, "hits" if outcome == "hit" else "misses", 1)

    def take(self) -> list[cache_admin.TrafficDelta]:
        """Return what changed since the last call, and start again."""
        pending, self._pending = self._pending, {}
        return [
            cache_admin.TrafficDelta(
                content_class,
                served_bytes=counts["served"],
                fetched_bytes=counts["fetched"],
                hits=counts["hits"],
                misses=counts["misses"],
            )
            for content_class, counts in pending.items()
        ]


class CacheService(Service):
    """One download per site, streamed to every device that asks (#6.2)."""

    name: ClassVar[str] = "cache"

    def __init__(self, core: Core) -> None:
        """Read the config; open nothing yet."""
        super().__init__(core)
        self.config: CacheConfig = core.config.section(CacheConfig)
        root = self.config.data_dir or core.config.site.data_dir / "cache"
        gib = 1 << 30
        self.store = ObjectStore(
            root, int(self.config.max_size_gb * gib), int(self.config.min_free_gb * gib)
        )
        self.rules: RuleSet | None = None
        self.traffic = _Traffic()
        self.settings = FillSettings(
            max_retries=self.config.max_retries,
            on_fetched=self.traffic.on_fetched,
            on_idle=self._retire_if_idle,
            budget=TokenBucket(self._background_rate),
            on_complete=self._check_complete,
        )
        self.prestaging = Prestaging(core, self.open_url, self._retire_if_idle)
        self._calendar: SchoolCalendar | None = None
        self._calendar_at = 0.0
        self._prestage_task: asyncio.Task[None] | None = None
        self._passthrough: TlsPassthrough | None = None
        self._tls_servers: list[asyncio.Server] = []
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._live: dict[str, CachedObject] = {}
        self._opening: dict[str, asyncio.Future[None]] = {}
        self._metrics_task: asyncio.Task[None] | None = None
        self._published: tuple[object, object] | None = None
        self._published_at = 0.0
        self._listeners = {split_origin(listen)[0] for listen in self.config.listen}
        self._own = OwnAddresses(self._listeners)

    async def async_setup(self) -> None:
        """Index the objects on disk, load the rules and open the listeners."""
        count = await self.core.executor.run(self.store.open)
        self.rules = await self.core.executor.run(load_rules, self.config.rules_file)
        _LOGGER.info("Cache: %d objects on disk, rules %s", count, self.rules.version)
        self._session = open_session(self.config, self._own)
        self._passthrough = TlsPassthrough(
            self.rules,
            OriginResolver(self.config, self._own),
            self.config.upstream_timeout_s,
        )
        await self._load_calendar()
        app = web.Application(client_max_size=0)
        app.on_response_prepare.append(_no_banner)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()

    async def async_start(self) -> None:
        """Listen, and publish the traffic figures every few seconds."""
        assert self._runner is not None  # noqa: S101 - async_setup ran
        for listen in self.config.listen:
            host, port = split_origin(listen)
            await web.TCPSite(self._runner, host, port, reuse_address=True).start()
        assert self._passthrough is not None  # noqa: S101 - async_setup ran
        for listen in self.config.tls_passthrough:
            host, port = split_origin(listen)
            self._tls_servers.append(
                await asyncio.start_server(self._passthrough.handle, host, port, reuse_address=True)
            )
        loop = asyncio.get_running_loop()
        self._metrics_task = loop.create_task(self._publish_forever())
        self._prestage_task = loop.create_task(self.prestaging.run_forever())

    async def async_stop(self) -> None:
        """Stop listening, stop the fills (committing what landed) and close the client."""
        for task in (self._metrics_task, self._prestage_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for server in self._tls_servers:
            server.close()
        if self._passthrough is not None:
            await self._passthrough.close()
        for server in self._tls_servers:
            await server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()
        for obj in list(self._live.values()):
            await obj.close()
        self._live.clear()
        await self.publish_metrics()  # what was counted since the last flush
        if self._session is not None:
            await self._session.close()

    async def async_health(self) -> Health:
        """Report the object count and the fills in progress."""
        fills = sum(len(obj.runs) for obj in self._live.values())
        return Health("ok", f"{len(self.store.index)} objects, {fills} fills")

    # -- metrics ---------------------------------------------------------------------

    async def _publish_forever(self) -> None:
        while True:
            await asyncio.sleep(METRICS_SECONDS)
            await self.publish_metrics()
            if time.monotonic() - self._calendar_at > CALENDAR_SECONDS:
                await self._load_calendar()

    async def _load_calendar(self) -> None:
        """Read the school calendar (class hours set the background fills' WAN rate)."""
        try:
            self._calendar = await load_calendar(self.core)
        except ValueError as err:
            _LOGGER.warning("Cache: school calendar not read (%s): class hours assumed", err)
        self._calendar_at = time.monotonic()

    def _background_rate(self) -> float:
        """Return the WAN budget of background fills now, in bytes per second."""
        return background_rate(self.config, self._calendar, dt.datetime.now(dt.UTC))

    async def publish_metrics(self) -> None:
        """Write the figures /metrics shows (no address, no device: content classes only)."""
        values: list[tuple[str, str, float]] = [
            ("preau_cache_objects", "", float(len(self.store.index))),
            ("preau_cache_used_bytes", "", float(self.store.used_bytes())),
            ("preau_cache_fills", "", float(sum(len(o.runs) for o in self._live.values()))),
        ]
        if self._passthrough is not None:
            values += [
                ("preau_cache_tls_passed_total", "", float(self._passthrough.passed)),
                ("preau_cache_tls_refused_total", "", float(self._passthrough.refused)),
            ]
        for content_class, count in sorted(self.traffic.served.items()):
            values.append(("preau_cache_served_bytes_total", f'class="{content_class}"', count))
        for content_class, count in sorted(self.traffic.fetched.items()):
            values.append(("preau_cache_fetched_bytes_total", f'class="{content_class}"', count))
        for (content_class, outcome), count in sorted(self.traffic.requests.items()):
            labels = f'class="{content_class}",outcome="{outcome}"'
            values.append(("preau_cache_requests_total", labels, float(count)))
        deltas = self.traffic.take()
        top = heapq.nlargest(TOP_OBJECTS, self.store.index.values(), key=lambda m: m.served_bytes)
        objects = [
            cache_admin.ObjectFigures(
                m.digest, m.url, m.content_class, m.length, m.chunks.present_bytes(),
                m.served_bytes, m.last_used, m.pinned,
            )
            for m in top
        ]  # fmt: skip
        # An idle cache writes seldom (each write is an fsync on the box's disk), but
        # often enough that /metrics, which drops figures older than 2 min, keeps them.
        now = time.monotonic()
        if (
            not deltas
            and (values, objects) == self._published
            and now - self._published_at < REPUBLISH_SECONDS
        ):
            return
        await publish_metrics(self.core, "cache", values)
        await cache_admin.add_traffic(self.core, deltas)
        await cache_admin.replace_objects(self.core, objects)
        self._published, self._published_at = (values, objects), now

    # -- requests --------------------------------------------------------------------

    def target(self, request: web.Request) -> Target | None:
        """Return where ``request`` goes upstream; None when it is for the cache itself.

        Raises HostRefused for a host that is not a host (a 400).
        """
        assert self.rules is not None  # noqa: S101 - async_setup ran
        url = request.url
        raw_host = url.host or ""
        port = url.explicit_port
        query = url.raw_query_string
        origin = request.query.get(DO_ORIGIN)
        if origin:
            raw_host, port = normalise_host(origin), None
            query = "&".join(
                part for part in query.split("&") if not part.startswith(f"{DO_ORIGIN}=")
            )
        elif not raw_host or normalise_host(raw_host) in self._listeners:
            return None
        host = check_host(raw_host)
        if not origin and url.path in LOCAL_PATHS and not self.rules.serves_host(host):
            return None  # WPAD: wpad.<domain> is steered here for the PAC file
        rule = self.rules.match(host, url.raw_path, request.headers.get("User-Agent", ""))
        upstream = URL.build(
            scheme="http",
            host=host,
            port=port,
            path=url.raw_path,
            query_string=query,
            encoded=True,
        )
        key = rule.key(host, url.raw_path, query) if rule is not None and rule.cache else ""
        return Target(host, upstream, rule, key)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        # Never a general proxy (#11): GET and HEAD only, to a host *and* path a
        # rule names, never to the box itself or loopback (checked again on the
        # resolved addresses, see cache.upstream), and never with credentials.
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        try:
            target = self.target(request)
        except (HostRefused, ValueError) as err:
            raise web.HTTPBadRequest(text=f"Préau cache: {err}\n") from None
        if target is None:
            return await self._local(request)
        if target.rule is None:
            # Not an open proxy: anything else would go round the DNS filter.
            raise web.HTTPForbidden(text="Préau cache: no rule serves this address\n")
        why = self._own.refused(target.host) if is_ip(target.host) else None
        if why is not None:
            raise web.HTTPForbidden(text=f"Préau cache: {why}\n")
        if not target.key:
            self.traffic.on_request("other", "relayed")
            return await self._relay(request, target.url)
        try:
            obj = await self._object(request.headers, target, target.rule)
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            _refuse_origin(err)
            _LOGGER.info("Cache: origin of %s unreachable: %r", target.host, err)
            raise web.HTTPBadGateway(text="origin unreachable") from None
        if isinstance(obj, aiohttp.ClientResponse):  # not cacheable: relayed as it is
            self.traffic.on_request(target.rule.content_class, "uncacheable")
            return await self._relay_response(request, obj)
        obj.users += 1
        obj.meta.last_used = time.time()
        try:
            return await self._serve(request, obj, target.rule)
        finally:
            obj.users -= 1
            await self._retire_if_idle(obj)

    async def _local(self, request: web.Request) -> web.StreamResponse:
        """Answer what is asked of the cache itself: the PAC file, a health check."""
        if request.path in ("/proxy.pac", "/wpad.dat"):
            # The proxy is this listener, by the address the device used to reach it.
            sockname = request.transport.get_extra_info("sockname") if request.transport else None
            address = str(sockname[0] if sockname else request.url.host)
            port = sockname[1] if sockname else request.url.port
            if ":" in address:
                address = f"[{address}]"  # an IPv6 listener
            return web.Response(
                text=self.pac(f"{address}:{port}"),
                content_type="application/x-ns-proxy-autoconfig",
            )
        if request.path == "/healthz":
            return web.Response(text="ok\n")
        raise web.HTTPNotFound(text="Préau cache: name an origin (Host or proxy form)\n")

    def pac(self, proxy: str) -> str:
        """Return a PAC file sending the cached names' plain HTTP here, the rest direct."""
        assert self.rules is not None  # noqa: S101 - async_setup ran
        tests = []
        for rule in self.rules.rules:
            if not rule.cache:
                continue
            for host in rule.hosts:
                if host.startswith("*."):
                    tests.append(f'dnsDomainIs(host, "{host[1:]}")')
                elif host != "@ip":
                    tests.append(f'host == "{host}"')
        condition = " ||\n      ".join(dict.fromkeys(tests))
        return (
            "function FindProxyForURL(url, host) {\n"
            '  if (url.substring(0, 5) == "http:" && (\n'
            f"      {condition}))\n"
            f'    return "PROXY {proxy}; DIRECT";\n'
            '  return "DIRECT";\n'
            "}\n"
        )

    # -- objects ---------------------------------------------------------------------

    async def open_url(self, url: str) -> CachedObject | str:
        """Open the object for a listed URL (pre-staging); return it, or why not."""
        assert self.rules is not None  # noqa: S101 - async_setup ran
        try:
            parsed = URL(url)
            host = check_host(parsed.host or "")
        except ValueError as err:
            return f"not an address: {err}"[:200]
        rule = self.rules.match(host, parsed.raw_path)
        if rule is None or not rule.cache:
            return "no cache rule for this address"
        key = rule.key(host, parsed.raw_path, parsed.raw_query_string)
        target = Target(host, parsed, rule, key)
        try:
            opened = await self._object({}, target, rule)
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            refused = _refused_origin(err)
            if isinstance(refused, OriginLoopError):
                return "the address resolves to this cache"
            if refused is not None:
                return f"refused: {refused}"[:200]
            return f"origin unreachable: {err!r}"[:200]
        if isinstance(opened, aiohttp.ClientResponse):
            opened.close()
            return f"not cacheable (HTTP {opened.status})"
        opened.meta.last_used = time.time()
        return opened

    async def _object(
        self, asked: Mapping[str, str], target: Target, rule: Rule
    ) -> CachedObject | aiohttp.ClientResponse:
        """Return the object for ``target``, opening it once however many ask at once."""
        digest = key_digest(target.key)
        while True:
            live = self._live.get(digest)
            if live is not None and live.failed is None:
                return live
            opening = self._opening.get(digest)
            if opening is None:
                break
            await asyncio.shield(opening)
        done = asyncio.get_running_loop().create_future()
        self._opening[digest] = done
        try:
            return await self._open(asked, target, rule, digest)
        finally:
            del self._opening[digest]
            done.set_result(None)

    async def _open(
        self, asked: Mapping[str, str], target: Target, rule: Rule, digest: str
    ) -> CachedObject | aiohttp.ClientResponse:
        """Open the object: from disk, or from the leader's own request to the origin.

        ``asked`` are the device's request headers (a range, its User-Agent).
        """
        assert self._session is not None  # noqa: S101 - async_setup ran
        live = self._live.pop(digest, None)
        if live is not None:  # failed: drop it and its bytes
            await live.close()
            await self.core.executor.run(self.store.remove, digest)
        meta = self.store.index.get(digest)
        if meta is not None and rule.max_age != IMMUTABLE:
            if time.time() - meta.validated > rule.max_age and not await self._still_valid(meta):
                await self.core.executor.run(self.store.remove, digest)
                meta = None
        if meta is not None:
            return await self._activate(meta)
        # A miss: the leader's own request tells the length and whether to keep it.
        chunk = self.config.chunk_kib * 1024
        headers = {"Accept-Encoding": "identity"}
        headers.update((h, asked[h]) for h in ("User-Agent",) if h in asked)
        # Ranged even for a whole object: the origin sends the length, and the
        # first run asks for no more than one request's worth (see cache.fill).
        wanted: tuple[int, int] | None = None
        with contextlib.suppress(RangeNotSatisfiable):
            wanted = parse_range(asked.get("Range"), 1 << 62)
        start = 0 if wanted is None else wanted[0] // chunk * chunk
        end = start + MAX_REQUEST
        if wanted is not None and wanted[1] < 1 << 62:
            end = min(end, -(-wanted[1] // chunk) * chunk)
        headers["Range"] = f"bytes={start}-{end - 1}"
        response = await self._session.get(target.url, headers=headers)
        window = self._cacheable(response)
        if window is None:
            return await self._as_asked(asked, target, response)
        length, start, _ = window
        meta = ObjectMeta(
            key=target.key,
            digest=digest,
            url=str(target.url),
            length=length,
            etag=response.headers.get("ETag", ""),
            last_modified=response.headers.get("Last-Modified", ""),
            content_type=response.headers.get("Content-Type", "application/octet-stream"),
            content_class=rule.content_class,
            chunk_size=chunk,
            sha256=await cache_admin.publisher_hash(self.core, target.key),
        )
        try:
            await self.core.executor.run(self.store.make_room, length, set(self._live))
            await self.core.executor.run(self.store.create, meta)
        except OSError as err:
            _LOGGER.warning("Cache: %s not kept: %s", target.url, err)
            return await self._as_asked(asked, target, response)
        obj = await self._activate(meta)
        # The run goes on to the end of what was asked: the whole object, or the range.
        until = length if wanted is None else min(length, -(-wanted[1] // chunk) * chunk)
        obj.start_run(Run(frontier=start, end=max(until, start + 1), response=response))
        return obj

    async def _as_asked(
        self, asked: Mapping[str, str], target: Target, response: aiohttp.ClientResponse
    ) -> aiohttp.ClientResponse:
        """Return an answer to relay for what the device asked, from the opening request.

        The opening request asked for a range; when the device did not, that
        answer only does if it holds the whole object (or the origin ignored the
        range); otherwise the device's own request goes to the origin.
        """
        assert self._session is not None  # noqa: S101 - async_setup ran
        if "Range" in asked or response.status != 206 or _whole(response):
            return response
        response.close()
        return await self._session.get(target.url, headers=_forwarded(asked))

    async def _check_complete(self, obj: CachedObject) -> None:
        """Compare a completed object with its publisher's hash; learn from apt indexes."""
        meta = obj.meta
        path = URL(meta.url).raw_path
        expected = meta.sha256 or publishers.hash_in_path(path)
        data = self.store.data_path(meta.digest)
        if expected:
            actual = await self.core.executor.run(file_sha256, data)
            if actual != expected:
                _LOGGER.warning(
                    "Cache dropped %s: SHA-256 %s, the publisher says %s", meta.url, actual,
                    expected,
                )  # fmt: skip
                obj.fail(ValueError("SHA-256 differs from the publisher's"))
                return
        if publishers.is_packages_index(path):
            await self._learn_hashes(meta, path, data)
        await obj.commit(force=True)

    async def _learn_hashes(self, meta: ObjectMeta, path: str, data: Path) -> None:
        """Record the SHA-256 of every package a Packages index lists, under their keys."""
        assert self.rules is not None  # noqa: S101 - async_setup ran
        host = normalise_host(URL(meta.url).host or "")
        root = publishers.archive_root(path)
        try:
            listed = await self.core.executor.run(lambda: list(publishers.packages_hashes(data)))
        except (OSError, EOFError, ValueError) as err:
            _LOGGER.info("Cache: %s is not a readable Packages index: %s", meta.url, err)
            return
        keyed = []
        for filename, sha256 in listed:
            file_path = f"{root}/{filename}"
            rule = self.rules.match(host, file_path)
            if rule is not None and rule.cache:
                keyed.append((rule.key(host, file_path, ""), sha256))
        count = await cache_admin.record_publisher_hashes(self.core, keyed)
        _LOGGER.info("Cache: %d package hashes from %s", count, meta.url)

    async def _activate(self, meta: ObjectMeta) -> CachedObject:
        assert self._session is not None  # noqa: S101 - async_setup ran
        obj = CachedObject(
            meta, self.store, self.core.executor, self._session, meta.url, self.settings
        )
        await obj.open()
        self._live[meta.digest] = obj
        return obj

    @staticmethod
    def _cacheable(response: aiohttp.ClientResponse) -> tuple[int, int, int] | None:
        """Return (length, start, end) of a response worth keeping, or None."""
        control = response.headers.get("Cache-Control", "").lower()
        encoding = response.headers.get("Content-Encoding", "identity").lower()
        if "no-store" in control or "private" in control or encoding != "identity":
            return None
        if response.status == 200 and response.content_length:
            return response.content_length, 0, response.content_length
        if response.status == 206:
            parsed = parse_content_range(response.headers.get("Content-Range"))
            if parsed is not None:
                return parsed[2], parsed[0], parsed[1]
        return None

    async def _still_valid(self, meta: ObjectMeta) -> bool:
        """Ask the origin whether a stale object changed (a HEAD; same ETag, same length)."""
        assert self._session is not None  # noqa: S101 - async_setup ran
        try:
            async with self._session.head(meta.url) as response:
                same = (
                    response.status == 200
                    and response.content_length == meta.length
                    and response.headers.get("ETag", "") == meta.etag
                    and response.headers.get("Last-Modified", "") == meta.last_modified
                )
        except (aiohttp.ClientError, TimeoutError, OSError):
            return True  # the origin is away: what we hold is the best there is
        if same:
            meta.validated = time.time()
            await self.core.executor.run(self.store.save, meta)
        return same

    async def _retire_if_idle(self, obj: CachedObject) -> None:
        if obj.users or obj.runs or self._live.get(obj.meta.digest) is not obj:
            return
        del self._live[obj.meta.digest]
        await obj.close()
        if obj.failed is not None:
            await self.core.executor.run(self.store.remove, obj.meta.digest)

    # -- answering -------------------------------------------------------------------

    async def _serve(
        self, request: web.Request, obj: CachedObject, rule: Rule
    ) -> web.StreamResponse:
        meta = obj.meta
        size = meta.length
        headers = CIMultiDict({"Accept-Ranges": "bytes", "X-Preau-Cache": "hit"})
        for name in _KEPT_RESPONSE:
            value = getattr(meta, name.lower().replace("-", "_"), "")
            if value:
                headers[name] = value
        if meta.etag and meta.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        try:
            wanted = parse_range(request.headers.get("Range"), size)
        except RangeNotSatisfiable:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        if_range = request.headers.get("If-Range")
        if wanted is not None and if_range and if_range not in (meta.etag, meta.last_modified):
            wanted = None
        start, end = wanted or (0, size)
        hit = obj.available(start) >= end
        self.traffic.on_request(rule.content_class, "hit" if hit else "miss")
        if not hit:
            headers["X-Preau-Cache"] = "filling"
        if wanted is not None:
            headers["Content-Range"] = content_range(start, end, size)
        response = web.StreamResponse(status=206 if wanted else 200, headers=headers)
        response.content_length = end - start
        await response.prepare(request)
        if request.method == "HEAD":
            await response.write_eof()
            return response
        source = await self.core.executor.run(_open_data, self.store.data_path(meta.digest))
        try:
            await self._send(request, obj, source, start, end, rule)
        finally:
            await self.core.executor.run(source.close)
        if rule.complete and obj.available(0) < size:
            obj.fill_everything()  # the rest of the object, for the next device
        await response.write_eof()
        return response

    async def _send(
        self,
        request: web.Request,
        obj: CachedObject,
        source: IO[bytes],
        start: int,
        end: int,
        rule: Rule,
    ) -> None:
        """Send ``[start, end)`` as it lands; cut the connection if the object fails."""
        loop = asyncio.get_running_loop()
        position = start
        while position < end:
            if obj.failed is not None:
                if request.transport is not None:
                    request.transport.abort()  # the device must see a cut, never a short file
                raise ConnectionResetError(f"cache object failed: {obj.failed}")
            reach = min(obj.available(position), end)
            if reach > position:
                transport = request.transport
                if transport is None:
                    raise ConnectionResetError("device went away")
                await loop.sendfile(transport, source, position, reach - position)
                self.traffic.on_served(rule.content_class, reach - position)
                obj.meta.served_bytes += reach - position
                position = reach
                continue
            obj.ensure_fetching(position, end)
            await obj.wait_change()

    async def _relay(self, request: web.Request, url: URL) -> web.StreamResponse:
        """Pass a request the cache does not keep to its origin and the answer back."""
        assert self._session is not None  # noqa: S101 - async_setup ran
        headers = _forwarded(request.headers)
        try:
            upstream = await self._session.request(
                request.method, url, headers=headers, allow_redirects=False
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            _refuse_origin(err)
            raise web.HTTPBadGateway(text="origin unreachable") from None
        return await self._relay_response(request, upstream)

    async def _relay_response(
        self, request: web.Request, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        try:
            headers = CIMultiDict(
                (name, value)
                for name, value in upstream.headers.items()
                if name.lower() not in HOP_BY_HOP
            )
            status = upstream.status
            if status == 206 and "Range" not in request.headers and _whole(upstream):
                status = 200  # the cache asked for a range; the device did not
                del headers["Content-Range"]
            response = web.StreamResponse(status=status, headers=headers)
            await response.prepare(request)
            async for data in upstream.content.iter_any():
                await response.write(data)
            await response.write_eof()
            return response
        finally:
            upstream.close()


async def _no_banner(request: web.Request, response: web.StreamResponse) -> None:
    """Name no server version in the answers."""
    response.headers["Server"] = SERVER_NAME


def _refused_origin(err: BaseException) -> OriginRefusedError | None:
    """Return the resolver's refusal behind a client error (aiohttp wraps it), if any."""
    seen: BaseException | None = err
    for _ in range(4):
        if seen is None:
            return None
        if isinstance(seen, OriginRefusedError):
            return seen
        seen = getattr(seen, "os_error", None) or seen.__cause__
    return None


def _refuse_origin(err: BaseException) -> None:
    """Raise the answer for an origin the box must not reach (508 for a loop, else 403)."""
    refused = _refused_origin(err)
    if isinstance(refused, OriginLoopError):
        raise _LoopDetectedError(text="origin resolves to this cache") from None
    if refused is not None:
        raise web.HTTPForbidden(text=f"Préau cache: {refused}\n") from None


def _whole(response: aiohttp.ClientResponse) -> bool:
    """Return whether a 206 holds the whole object (then it is relayed as a 200)."""
    parsed = parse_content_range(response.headers.get("Content-Range"))
    return response.status == 206 and parsed is not None and parsed[:2] == (0, parsed[2])


def _forwarded(asked: Mapping[str, str]) -> dict[str, str]:
    """Return the device's request headers an origin may see (never its credentials)."""
    return {
        name: value
        for name, value in asked.items()
        if name.lower() not in HOP_BY_HOP and name.lower() not in _NEVER_FORWARDED
    }


def _open_data(path: Path) -> IO[bytes]:
    return path.open("rb")

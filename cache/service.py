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
from typing import TYPE_CHECKING, ClassVar

from aiohttp import web

from appliance.i18n import N_
from appliance.published import METRICS_REFRESH_SECONDS, publish_metrics
from appliance.scheduler.jobs import load_calendar
from appliance.service import Health
from cache import state as cache_admin
from cache.config import split_origin
from cache.passthrough import TlsPassthrough
from cache.rules import load_rules
from cache.upstream import (
    OriginResolver,
    open_session,
)

if TYPE_CHECKING:
    pass

from cache.cache_base import (
    CALENDAR_SECONDS,
    METRICS_SECONDS,
    TOP_OBJECTS,
    _no_banner,
    background_rate,
)
from cache.http_side import CacheHttp

_LOGGER = logging.getLogger(__name__)


class CacheService(CacheHttp):
    """One download per site, streamed to every device that asks (#6.2)."""

    name: ClassVar[str] = "cache"

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
        await cache_admin.keep_config_plans(self.core, self.config.prestage_plans)
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
        return Health(
            "ok",
            N_("%(objects)s objets en cache, %(fills)s téléchargements en cours"),
            {"objects": len(self.store.index), "fills": fills},
        )

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
        # An idle cache writes seldom (each write is an fsync on the box's disk), as
        # published figures are: when they change, else every METRICS_REFRESH_SECONDS.
        now = time.monotonic()
        if (
            not deltas
            and (values, objects) == self._published
            and now - self._published_at < METRICS_REFRESH_SECONDS
        ):
            return
        await publish_metrics(self.core, "cache", values)
        await cache_admin.add_traffic(self.core, deltas)
        await cache_admin.replace_objects(self.core, objects)
        self._published, self._published_at = (values, objects), now

"""What every part of the cache service shares: its state (set up once), helpers.

The cache service is one class in layers (issue #12): this base (state and
helpers), :mod:`cache.objects_side`, :mod:`cache.http_side`, then
:mod:`cache.service` (lifecycle, metrics).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from abc import abstractmethod
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar, Final

import aiohttp
from aiohttp import web
from yarl import URL

from appliance.destinations import OwnAddresses
from appliance.scheduler.calendar import SchoolCalendar
from appliance.service import Service
from appliance.web.security import SERVER_NAME
from cache import state as cache_admin
from cache.chunks import parse_content_range
from cache.config import CacheConfig, split_origin
from cache.fill import CachedObject, FillSettings, TokenBucket
from cache.objects import ObjectStore
from cache.passthrough import TlsPassthrough
from cache.prestage import Prestaging
from cache.rules import Rule, RuleSet
from cache.upstream import (
    HOP_BY_HOP,
    OriginLoopError,
    OriginRefusedError,
)

if TYPE_CHECKING:
    from appliance.core import Core

_LOGGER = logging.getLogger(__name__)

DO_ORIGIN: Final = "cacheHostOrigin"
METRICS_SECONDS: Final = 10.0
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


class CacheBase(Service):
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

    # Wired in __init__, implemented by the layers above (objects_side, service).
    @abstractmethod
    async def open_url(self, url: str) -> CachedObject | str:
        """Open the object ``url`` names (or say why not)."""

    @abstractmethod
    async def _check_complete(self, obj: CachedObject) -> None:
        """Check a completed object against what its publisher says."""

    @abstractmethod
    async def _retire_if_idle(self, obj: CachedObject) -> None:
        """Forget an object nobody uses any more."""

    @abstractmethod
    def _background_rate(self) -> float:
        """Return the WAN rate background fetches may use now."""

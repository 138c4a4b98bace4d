"""Single-flight fills: one upstream fetch per chunk, streamed to every waiting reader.

A :class:`CachedObject` is the in-memory side of one object while anyone uses
it. Upstream bytes arrive through *runs*: a run fetches a window of chunks
with one ``Range`` request (resumed with ``If-Range`` after a cut), writes
each piece to the sparse data file as it lands and wakes the readers, which
send what is on disk with ``sendfile``. Readers never wait for a whole chunk
or slice, and there is no lock that times out into a second fetch.

Who fetches what: a reader whose bytes no run will reach soon starts a run
at its chunk. A run that reaches a chunk already on disk, or a chunk another
run is inside (and got to first), jumps over that run's window, so two runs
never fetch the same chunk. Chunks enter the durable bitmap only after an
fsync (see :mod:`cache.objects`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import aiohttp

from cache.chunks import parse_content_range
from cache.objects import ObjectMeta, ObjectStore

if TYPE_CHECKING:
    from appliance.executor import BlockingExecutor

_LOGGER = logging.getLogger(__name__)

FLUSH_BYTES: Final = 256 * 1024
FLUSH_SECONDS: Final = 0.02
COMMIT_CHUNKS: Final = 16
COMMIT_SECONDS: Final = 1.0
LOOKAHEAD_CHUNKS: Final = 2
MAX_REQUEST: Final = 8 << 20
_RUN_IDS: Final = itertools.count(1)


class OriginChangedError(Exception):
    """The origin now serves another version (length, ETag): the object is dropped."""


class FetchFailedError(Exception):
    """The origin could not deliver the bytes after every retry."""


@dataclass(slots=True, eq=False)
class Run:
    """One upstream fetch of a window ``[frontier, end)``, moving forward."""

    frontier: int
    end: int
    segment_start: int = -1
    ident: int = field(default_factory=lambda: next(_RUN_IDS))
    task: asyncio.Task[None] | None = None
    response: aiohttp.ClientResponse | None = None  # the first one, opened by the caller
    background: bool = False  # completion or pre-staging: under the WAN token bucket
    requested_end: int = 0  # where the request in flight ends (bytes asked of the origin)

    def has_asked_for(self, position: int) -> bool:
        """Return whether the request in flight will bring the byte at ``position``.

        Those bytes are on their way, much of them already in the socket's
        buffers: a second request for them would fetch them twice, and
        stopping this run where the new one starts would throw away what the
        origin already sent (measured: 12 chunks of 256 KiB for one device).
        """
        return self.frontier <= position < self.requested_end

    def __post_init__(self) -> None:
        if self.segment_start < 0:
            self.segment_start = self.frontier


class TokenBucket:
    """The WAN budget of background fills, in bytes per second, which may change by the hour.

    ``rate_of`` is asked at each take: the site's class hours get a lower rate
    than the night, so pre-staging and completions never starve teaching
    traffic. A rate of 0 means no limit.
    """

    def __init__(self, rate_of: Callable[[], float], burst_seconds: float = 0.25) -> None:
        """Start full."""
        self.rate_of = rate_of
        self.burst_seconds = burst_seconds
        self._tokens = 0.0
        self._stamp = time.monotonic()

    async def take(self, count: int) -> None:
        """Wait until ``count`` bytes fit in the budget."""
        rate = self.rate_of()
        now = time.monotonic()
        if rate <= 0:
            self._stamp = now
            return
        burst = rate * self.burst_seconds
        self._tokens = min(burst, self._tokens + (now - self._stamp) * rate) - count
        self._stamp = now
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / rate)


@dataclass(slots=True)
class FillSettings:
    """How fills talk to origins."""

    max_retries: int = 5
    retry_base_s: float = 0.2
    on_fetched: Callable[[str, int], None] | None = None  # (content class, bytes)
    on_idle: Callable[[CachedObject], Awaitable[None]] | None = None  # no run, no reader
    budget: TokenBucket | None = None  # for background runs
    on_complete: Callable[[CachedObject], Awaitable[None]] | None = None  # every chunk landed


class CachedObject:
    """An object being read and perhaps filled."""

    def __init__(
        self,
        meta: ObjectMeta,
        store: ObjectStore,
        executor: BlockingExecutor,
        session: aiohttp.ClientSession,
        url: str,
        settings: FillSettings,
    ) -> None:
        """Start from what the durable bitmap says is on disk."""
        self.meta = meta
        self.url = url
        self.store = store
        self.executor = executor
        self.session = session
        self.settings = settings
        self.written = meta.chunks.copy()
        self.runs: list[Run] = []
        self.failed: BaseException | None = None
        self.users = 0
        self._fd = -1
        self._change: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._commit_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._uncommitted = 0
        self._committed_at = time.monotonic()

    @property
    def size(self) -> int:
        """Return the object's length."""
        return self.meta.length

    @property
    def chunk(self) -> int:
        """Return the chunk size."""
        return self.meta.chunk_size

    async def open(self) -> None:
        """Open the data file for writing."""
        path = self.store.data_path(self.meta.digest)
        self._fd = await self.executor.run(os.open, path, os.O_RDWR | os.O_CLOEXEC)

    async def close(self) -> None:
        """Stop the runs, commit what landed and close the data file.

        Every fill task is waited for, including one whose run has already
        left ``runs`` but is still committing: closing the file under it gave
        EBADF (or, worse, an fsync of a reused descriptor). The task that
        calls this (a run retiring its idle object) is not waited for.
        """
        current = asyncio.current_task()
        others = [task for task in self._tasks if task is not current]
        for task in others:
            if any(run.task is task for run in self.runs):
                task.cancel()
        for task in others:
            with contextlib.suppress(BaseException):
                await task
        if self.failed is None:
            await self.commit(force=True)
        async with self._commit_lock:
            if self._fd >= 0:
                fd, self._fd = self._fd, -1
                await self.executor.run(os.close, fd)

    # -- readers -------------------------------------------------------------------

    def available(self, offset: int) -> int:
        """Return the end of the bytes on disk that run on from ``offset``."""
        end = offset
        while end < self.size:
            reach = self.written.present_from(end)
            for run in self.runs:
                if run.segment_start <= end < run.frontier:
                    reach = max(reach, run.frontier)
            if reach <= end:
                break
            end = reach
        return end

    def ensure_fetching(self, offset: int, end: int) -> None:
        """Make sure a run will bring byte ``offset`` soon; start one if none will."""
        if self.failed is not None or offset >= self.size:
            return
        index = self.written.index_of(offset)
        if self.written.has(index):
            return
        for run in self.runs:
            if run.segment_start <= offset < run.end:
                ahead = index - self.written.index_of(run.frontier)
                if ahead <= LOOKAHEAD_CHUNKS or run.has_asked_for(offset):
                    run.background = False  # a device waits for it now: full speed
                    return
        start = index * self.chunk
        stop = min(self.size, -(-end // self.chunk) * self.chunk)
        self.start_run(Run(frontier=start, end=stop))

    def start_run(self, run: Run) -> None:
        """Start fetching ``run``'s window."""
        _LOGGER.debug("Run %d starts [%d, %d)", run.ident, run.frontier, run.end)
        self.runs.append(run)
        run.task = asyncio.get_running_loop().create_task(
            self._fill(run), name=f"cache-fill-{self.meta.digest[:8]}-{run.ident}"
        )
        self._tasks.add(run.task)
        run.task.add_done_callback(self._tasks.discard)

    def fill_everything(self) -> None:
        """Fetch every missing chunk in the background (completion, pre-staging)."""
        gap = self.written.missing_from(0)
        if gap is not None and not self.runs:
            self.start_run(Run(frontier=gap[0] * self.chunk, end=self.size, background=True))

    def stop_background(self) -> None:
        """Cancel the background runs (the maintenance window closed); devices' runs go on."""
        for run in self.runs:
            if run.background and run.task is not None:
                run.task.cancel()

    @property
    def complete(self) -> bool:
        """Return whether every chunk is on disk."""
        return self.written.complete

    async def wait_change(self) -> None:
        """Wait until bytes land, a run ends or the object fails."""
        await asyncio.shield(self._change)

    def _notify(self) -> None:
        change, self._change = self._change, asyncio.get_running_loop().create_future()
        if not change.done():
            change.set_result(None)

    def fail(self, error: BaseException) -> None:
        """Mark the object unusable: readers stop, runs are cancelled."""
        if self.failed is None:
            self.failed = error
            for run in self.runs:
                if run.task is not None and run.task is not asyncio.current_task():
                    run.task.cancel()
        self._notify()

    # -- runs ----------------------------------------------------------------------

    def _owner_ahead(self, run: Run, position: int) -> Run | None:
        """Return the run that holds the chunk at ``position`` before ``run`` does.

        Another run holds it if it is inside that chunk already, or was started
        (or jumped) exactly there and has not received its first byte yet; a
        run merely flowing into the chunk yields to it.
        """
        index = self.written.index_of(position)
        for other in self.runs:
            if other is run or other.frontier >= other.end:
                continue
            if self.written.index_of(other.frontier) != index or other.frontier < position:
                continue
            if other.frontier > position:
                return other
            if other.segment_start == position and (
                run.segment_start != position or other.ident < run.ident
            ):
                return other
        return None

    def _claim(self, run: Run) -> bool:
        """Move ``run`` to the next chunk it should fetch; return False when none is left."""
        position = run.frontier
        while position < run.end and position % self.chunk == 0:
            index = self.written.index_of(position)
            if self.written.has(index):
                position = (index + 1) * self.chunk
                continue
            owner = self._owner_ahead(run, position)
            if owner is None:
                break
            position = max(position + self.chunk, owner.end)
        position = min(position, run.end)
        if position != run.frontier:
            _LOGGER.debug("Run %d jumps %d -> %d", run.ident, run.frontier, position)
            run.frontier = run.segment_start = position
        return run.frontier < run.end

    async def _fill(self, run: Run) -> None:
        failures = 0
        try:
            while self.failed is None and self._claim(run):
                before = run.frontier
                try:
                    await self._fetch(run)
                except (aiohttp.ClientError, TimeoutError, ConnectionError) as err:
                    failures = 0 if run.frontier > before else failures + 1
                    if failures > self.settings.max_retries:
                        raise FetchFailedError(f"{self.url}: {err!r}") from err
                    _LOGGER.info("Cache fetch of %s cut at %d: %r", self.url, run.frontier, err)
                    await asyncio.sleep(self.settings.retry_base_s * 2 ** min(failures, 5))
                else:
                    failures = 0
        except asyncio.CancelledError:
            raise
        except (OriginChangedError, FetchFailedError, OSError) as err:
            _LOGGER.warning("Cache fill of %s stopped: %s", self.url, err)
            self.fail(err)
        finally:
            if run.response is not None:
                run.response.close()
            self.runs.remove(run)
            self._notify()
        await self.commit(force=True)
        if self.complete and not self.meta.checked and self.failed is None:
            self.meta.checked = True  # once, even when two runs end together
            if self.settings.on_complete is not None:
                await self.settings.on_complete(self)
        if not self.runs and not self.users and self.settings.on_idle is not None:
            await self.settings.on_idle(self)

    def _check(self, response: aiohttp.ClientResponse, run: Run) -> tuple[int, int]:
        """Return the bytes ``[start, end)`` the body holds; raise if not this object's."""
        etag = response.headers.get("ETag", "")
        if self.meta.etag and etag and etag != self.meta.etag:
            raise OriginChangedError(f"ETag {etag} instead of {self.meta.etag}")
        if response.status == 206:
            parsed = parse_content_range(response.headers.get("Content-Range"))
            if parsed is None or parsed[2] != self.size:
                raise OriginChangedError(f"Content-Range {response.headers.get('Content-Range')}")
            if parsed[0] != run.frontier:
                raise OriginChangedError(f"asked for {run.frontier}, got {parsed[0]}")
            return parsed[0], parsed[1]
        if response.status == 200:
            if response.content_length != self.size:
                raise OriginChangedError(f"length {response.content_length} instead of {self.size}")
            return 0, self.size
        if response.status in (404, 410, 412, 416):
            raise OriginChangedError(f"origin answered {response.status}")
        raise aiohttp.ClientResponseError(
            response.request_info, (), status=response.status, message="unexpected status"
        )

    async def _fetch(self, run: Run) -> None:
        """Fetch from ``run.frontier`` until its window ends or is taken by another run."""
        response, run.response = run.response, None
        if response is None:
            asked_end = self._request_end(run)
            # Known from the moment the request leaves, not when its answer's
            # headers arrive: a device asking for a byte in this window while
            # the request is on its way must wait for it, not start a second
            # run whose start would cut this one (the bytes already sent by
            # the origin then cross the WAN for nothing; issue #12).
            run.requested_end = asked_end
            headers = {
                "Range": f"bytes={run.frontier}-{asked_end - 1}",
                "Accept-Encoding": "identity",
            }
            validator = self.meta.etag if not self.meta.etag.startswith("W/") else ""
            validator = validator or self.meta.last_modified
            if validator:
                headers["If-Range"] = validator
            response = await self.session.get(self.url, headers=headers)
        try:
            body_start, body_end = self._check(response, run)
            skip = run.frontier - body_start  # a 200 from the start
            stop = min(body_end, run.end)
            run.requested_end = stop
            pending = bytearray()
            flushed_at = time.monotonic()
            async for piece in response.content.iter_any():
                if run.background and self.settings.budget is not None:
                    await self.settings.budget.take(len(piece))
                data = memoryview(piece)[skip:]
                skip = max(0, skip - len(piece))
                while data:
                    position = run.frontier + len(pending)
                    boundary = (position // self.chunk + 1) * self.chunk
                    take = min(len(data), boundary - position, stop - position)
                    pending += data[:take]
                    data = data[take:]
                    position += take
                    if position >= stop:
                        await self._write(run, pending)
                        return
                    if position % self.chunk == 0 and self._taken_at(run, position):
                        _LOGGER.debug("Run %d stops at %d", run.ident, position)
                        await self._write(run, pending)  # the next chunk is on disk or
                        return  # another run's: stop here, the caller jumps over it
                now = time.monotonic()
                if len(pending) >= FLUSH_BYTES or now - flushed_at >= FLUSH_SECONDS:
                    await self._write(run, pending)
                    pending = bytearray()
                    flushed_at = now
            if pending:
                await self._write(run, pending)
            raise ConnectionError(f"origin closed the connection at {run.frontier}")
        finally:
            response.close()

    def _request_end(self, run: Run) -> int:
        """Return where the next request of ``run`` should end.

        At the next chunk already on disk or the start of another run ahead,
        and after at most ``MAX_REQUEST`` bytes: what a request asks for beyond
        the point where the run stops is in flight on the WAN and wasted.
        """
        end = min(run.end, -(-(run.frontier + MAX_REQUEST) // self.chunk) * self.chunk)
        for other in self.runs:
            if other is not run and run.frontier < other.segment_start < end:
                end = other.segment_start
        index = self.written.index_of(run.frontier) + 1
        last = self.written.index_of(end - 1)
        while index <= last:
            if self.written.has(index):
                return index * self.chunk
            index += 1
        return end

    def _taken_at(self, run: Run, position: int) -> bool:
        """Return whether the chunk starting at ``position`` is on disk or another run's."""
        index = self.written.index_of(position)
        return self.written.has(index) or self._owner_ahead(run, position) is not None

    async def _write(self, run: Run, data: bytearray) -> None:
        """Write bytes at the run's frontier, mark whole chunks and wake the readers."""
        if self.failed is not None:
            raise asyncio.CancelledError
        await self.executor.run(os.pwrite, self._fd, data, run.frontier)
        start = run.frontier
        run.frontier += len(data)
        self.meta.fetched_bytes += len(data)
        if self.settings.on_fetched is not None:
            self.settings.on_fetched(self.meta.content_class, len(data))
        first = max(self.written.index_of(run.segment_start), self.written.index_of(start))
        for index in range(first, self.written.index_of(run.frontier - 1) + 1):
            chunk_start, chunk_end = self.written.span(index)
            if chunk_start >= run.segment_start and chunk_end <= run.frontier:
                if not self.written.has(index):
                    self.written.mark(index)
                    self._uncommitted += 1
        self._notify()
        if self._uncommitted >= COMMIT_CHUNKS or (
            self._uncommitted and time.monotonic() - self._committed_at >= COMMIT_SECONDS
        ):
            await self.commit()

    async def commit(self, *, force: bool = False) -> None:
        """Make written chunks durable: fsync the data, then record them in the metadata."""
        async with self._commit_lock:
            if self._fd < 0 or (not self._uncommitted and not force):
                return
            written = self.written.copy()  # what the fsync below makes durable
            self._uncommitted = 0
            self._committed_at = time.monotonic()
            await self.executor.run(os.fsync, self._fd)
            self.meta.chunks.assign(written)
            await self.executor.run(self.store.save, self.meta)

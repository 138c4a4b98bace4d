"""Cached objects: opened, checked against the origin, activated, retired when idle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import aiohttp
from yarl import URL

from appliance.destinations import check_host
from appliance.digests import file_sha256
from cache import publishers
from cache import state as cache_admin
from cache.cache_base import (
    CacheBase,
    Target,
    _forwarded,
    _refused_origin,
    _whole,
)
from cache.chunks import RangeNotSatisfiable, parse_content_range, parse_range
from cache.fill import MAX_REQUEST, CachedObject, Run
from cache.objects import ObjectMeta
from cache.rules import IMMUTABLE, Rule, key_digest, normalise_host
from cache.upstream import OriginLoopError

_LOGGER = logging.getLogger(__name__)


class ObjectsSide(CacheBase):
    """Cached objects: opened, checked against the origin, activated, retired when idle."""

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
        """Close an object nobody reads or fills; a device asking meanwhile waits for it.

        Until ``close`` has committed, the index may still hold an older bitmap
        than the object's: a device opening the object from the index then saw
        whole chunks as missing and fetched them again (a CI failure). So the
        retirement counts as an opening, which ``_object`` waits for.
        """
        digest = obj.meta.digest
        if obj.users or obj.runs or self._live.get(digest) is not obj:
            return
        del self._live[digest]
        retiring: asyncio.Future[None] | None = None
        if digest not in self._opening:
            retiring = asyncio.get_running_loop().create_future()
            self._opening[digest] = retiring
        try:
            await obj.close()
            if obj.failed is not None:
                await self.core.executor.run(self.store.remove, digest)
        finally:
            if retiring is not None:
                del self._opening[digest]
                retiring.set_result(None)

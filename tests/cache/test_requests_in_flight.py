"""A device asking for bytes a request is already fetching waits for it (issue #12).

And one asking for an object being retired waits until its bitmap is committed.

Found from a test that failed under load: ranged devices that arrived while a
run's request was on its way (sent, headers not back yet) saw no request
covering their bytes, started a second run inside the first one's window, and
the first stopped there with the origin's bytes already sent: 1.05× the
object crossed the WAN. Here the request never answers, so the instant is
held still and the check cannot depend on timing.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from yarl import URL

from appliance.core import Core
from appliance.executor import BlockingExecutor
from cache.cache_base import Target
from cache.fill import LOOKAHEAD_CHUNKS, CachedObject, FillSettings
from cache.objects import ObjectMeta, ObjectStore
from cache.rules import Rule, key_digest
from cache.service import CacheService

CHUNK = 1 << 20


class _SilentOrigin:
    """A session whose requests leave and never come back (the instant held still)."""

    def __init__(self) -> None:
        self.asked: list[dict[str, str]] = []
        self.sent = asyncio.Event()

    async def get(self, url: str, headers: dict[str, str]) -> Any:
        self.asked.append(headers)
        self.sent.set()
        await asyncio.Event().wait()


async def test_a_device_inside_a_request_on_its_way_starts_no_second_run(tmp_path: Path) -> None:
    executor = BlockingExecutor()
    origin = _SilentOrigin()
    meta = ObjectMeta("k", "d" * 64, "http://origin.test/f", 40 * CHUNK, chunk_size=CHUNK)
    store = ObjectStore(tmp_path, 1 << 34, 0)
    obj = CachedObject(meta, store, executor, origin, meta.url, FillSettings())  # type: ignore[arg-type]
    try:
        obj.ensure_fetching(0, meta.length)
        async with asyncio.timeout(30):
            await origin.sent.wait()
        assert origin.asked[0]["Range"].startswith("bytes=0-")
        # A ranged device wants bytes well past the look-ahead, inside the window asked.
        offset = (LOOKAHEAD_CHUNKS + 3) * CHUNK
        asked_end = int(origin.asked[0]["Range"].split("-")[1]) + 1
        assert offset < asked_end
        obj.ensure_fetching(offset, offset + CHUNK)
        assert len(obj.runs) == 1, "a second run was started inside a request on its way"
        # Past the window asked, a device does get its own run at once.
        obj.ensure_fetching(asked_end + 4 * CHUNK, asked_end + 5 * CHUNK)
        assert len(obj.runs) == 2
    finally:
        for run in obj.runs:
            assert run.task is not None
            run.task.cancel()
        await asyncio.gather(*(run.task for run in obj.runs if run.task), return_exceptions=True)
        executor.shutdown()


async def test_a_device_arriving_while_an_object_retires_waits_for_its_bitmap(
    core: Core,
) -> None:
    """The CI failure of stop 19: a device came between the retirement and its commit.

    The object was whole on its side but the index still held the bitmap of
    the last commit, so the device opened a second object that thought every
    chunk missing and fetched them again. The commit is held here, so the
    instant cannot depend on timing.
    """
    service = CacheService(core)
    service._session = object()  # type: ignore[assignment]  # never used: nothing to fetch
    await core.executor.run(service.store.open)
    rule = Rule("test", "windows", ("origin.test",))
    key = "origin.test/f"
    meta = ObjectMeta(key, key_digest(key), "http://origin.test/f", 3 * CHUNK, chunk_size=CHUNK)
    meta.validated = time.time()
    await core.executor.run(service.store.create, meta)
    obj = await service._activate(meta)
    await obj.executor.run(os.pwrite, obj._fd, b"x" * meta.length, 0)
    for index in range(meta.chunks.count):
        obj.written.mark(index)  # whole on the object's side, not yet committed
    held = asyncio.Event()
    committing = asyncio.Event()
    commit = obj.commit

    async def held_commit(*, force: bool = False) -> None:
        committing.set()
        await held.wait()
        await commit(force=force)

    obj.commit = held_commit  # type: ignore[method-assign]
    retiring = asyncio.create_task(service._retire_if_idle(obj))
    async with asyncio.timeout(30):
        await committing.wait()
    target = Target("origin.test", URL(meta.url), rule, key)
    device = asyncio.create_task(service._object({}, target, rule))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not device.done(), "a device opened the object before its retirement committed"
    held.set()
    async with asyncio.timeout(30):
        await retiring
        again = await device
    assert isinstance(again, CachedObject)
    assert again is not obj
    assert again.available(0) == meta.length  # a hit: nothing to fetch again
    assert not again.runs
    await again.close()

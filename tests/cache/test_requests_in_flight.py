"""A device asking for bytes a request is already fetching waits for it (issue #12).

Found from a test that failed under load: ranged devices that arrived while a
run's request was on its way (sent, headers not back yet) saw no request
covering their bytes, started a second run inside the first one's window, and
the first stopped there with the origin's bytes already sent: 1.05× the
object crossed the WAN. Here the request never answers, so the instant is
held still and the check cannot depend on timing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from appliance.executor import BlockingExecutor
from cache.fill import LOOKAHEAD_CHUNKS, CachedObject, FillSettings
from cache.objects import ObjectMeta, ObjectStore

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

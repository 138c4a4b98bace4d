"""Night pre-staging: fetch the referent's and the MDM's lists before school opens.

The scheduler's ``cache-prestage`` job asks for a run (a row with the
maintenance window's end as deadline); this loop, in the cache service, takes
it, fetches every listed URL through the cache as background fills under the
WAN budget, pins them to their plan (never evicted), checks the publisher's
SHA-256 when the list gives one, and stops what is left at the deadline. The
report (done, failed, left, bytes) is what the referent reads in the morning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from appliance.digests import file_sha256
from cache import state as cache_admin
from cache.fill import CachedObject

if TYPE_CHECKING:
    from appliance.core import Core

_LOGGER = logging.getLogger(__name__)

POLL_SECONDS: Final = 2.0

Opener = Callable[[str], Awaitable[CachedObject | str]]
Releaser = Callable[[CachedObject], Awaitable[None]]


class Prestaging:
    """Runs requested pre-staging, one at a time."""

    def __init__(self, core: Core, open_object: Opener, release: Releaser) -> None:
        """Use ``open_object`` (a URL to a cached object, or an error) and ``release``."""
        self.core = core
        self._open = open_object
        self._release = release

    async def run_forever(self) -> None:
        """Take requested runs as they come."""
        while True:
            requested = await cache_admin.next_requested_run(self.core)
            if requested is None:
                await asyncio.sleep(POLL_SECONDS)
                continue
            await self.run(requested)

    async def run(self, requested: dict[str, Any]) -> None:
        """Fetch every plan's items before the run's deadline and write the report."""
        run_id, deadline = int(requested["id"]), float(requested["deadline"])
        await cache_admin.update_run(self.core, run_id, status="running", started_at=time.time())
        items = await cache_admin.prestage_items(self.core)
        done = failed = fetched = 0
        left = len(items)
        for item in items:
            remaining = deadline - time.time()
            if remaining <= 0:
                break
            try:
                status, size, error = await asyncio.wait_for(self._one(item), remaining)
            except TimeoutError:
                await cache_admin.record_item(
                    self.core, item["id"], "stopped", 0, "maintenance window closed"
                )
                break
            left -= 1
            if status == "done":
                done += 1
                fetched += size
            else:
                failed += 1
            await cache_admin.record_item(self.core, item["id"], status, size, error)
            await cache_admin.update_run(
                self.core, run_id, items_done=done, items_failed=failed, items_left=left,
                fetched_bytes=fetched,
            )  # fmt: skip
        status = "done" if left == 0 else "stopped"
        await cache_admin.update_run(
            self.core, run_id, status=status, finished_at=time.time(), items_done=done,
            items_failed=failed, items_left=left, fetched_bytes=fetched,
        )  # fmt: skip
        _LOGGER.info("Pre-staging %s: %d fetched, %d failed, %d left", status, done, failed, left)

    async def _one(self, item: dict[str, Any]) -> tuple[str, int, str]:
        """Fetch one item; return (status, bytes on disk, error)."""
        opened = await self._open(str(item["url"]))
        if isinstance(opened, str):
            return "failed", 0, opened
        obj = opened
        obj.users += 1
        try:
            before = obj.meta.fetched_bytes
            obj.meta.pinned = str(item["plan"])
            for run in obj.runs:  # the opening request too: under the WAN budget
                run.background = True
            while not obj.complete and obj.failed is None:
                obj.fill_everything()
                await obj.wait_change()
            if obj.failed is not None:
                return "failed", 0, f"origin: {obj.failed}"
            expected = str(item["sha256"])
            if expected:
                path = obj.store.data_path(obj.meta.digest)
                actual = await self.core.executor.run(file_sha256, path)
                if actual != expected:
                    obj.fail(ValueError("SHA-256 differs from the list's"))
                    return "failed", 0, f"SHA-256 {actual} instead of {expected}"
                obj.meta.sha256 = expected
            await obj.commit(force=True)
            return "done", obj.meta.fetched_bytes - before, ""
        except asyncio.CancelledError:
            obj.stop_background()  # the window closed: devices' own fills go on
            raise
        finally:
            obj.users -= 1
            await self._release(obj)

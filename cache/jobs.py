"""The cache's scheduled jobs: nightly pre-staging and the traffic purge."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import TYPE_CHECKING, Final

from appliance.i18n import N_
from appliance.scheduler.jobs import JobContext, JobSpec, load_calendar, windows_from_core
from cache import state as cache_admin
from cache.config import CacheConfig

if TYPE_CHECKING:
    from appliance.core import Core

PRESTAGE_POLL_S: Final = 5.0
PRESTAGE_GRACE_S: Final = 120.0


async def _cache_traffic_purge(context: JobContext) -> str:
    removed = await cache_admin.purge_traffic(context.core)
    return f"{removed} cache traffic rows purged"


async def _cache_prestage(context: JobContext) -> str:
    """Ask the cache service to fetch the pre-staging lists before the window closes."""
    core = context.core
    now = dt.datetime.now(dt.UTC)
    calendar = await load_calendar(core)
    window = windows_from_core(core)["nightly"]
    today = now.astimezone(core.config.site.zone).date()
    deadline = now + dt.timedelta(hours=4)
    for opened, closed in window.intervals(calendar, today - dt.timedelta(days=1), 2):
        if opened <= now < closed:
            deadline = closed
    run_id = await cache_admin.request_prestage(core, deadline.timestamp())
    while time.time() < deadline.timestamp() + PRESTAGE_GRACE_S:
        run = await cache_admin.prestage_run(core, run_id)
        assert run is not None  # noqa: S101 - inserted above
        if run["status"] in ("done", "stopped"):
            return (
                f"{run['items_done']} préchargés, {run['items_failed']} en échec,"
                f" {run['items_left']} restants, {run['fetched_bytes'] / 1e6:.0f} Mo"
                f" ({run['status']})"
            )
        await asyncio.sleep(PRESTAGE_POLL_S)
    await cache_admin.update_run(core, run_id, status="failed", finished_at=time.time())
    raise RuntimeError("the cache service did not take the pre-staging run")


def cache_jobs(core: Core) -> list[JobSpec]:
    """Return pre-staging and the traffic purge when the cache runs."""
    if not core.config.section(CacheConfig).enabled:
        return []
    return [
        JobSpec("cache-prestage", N_("Préchargement du cache"), "nightly", _cache_prestage),
        JobSpec(
            "cache-traffic-purge",
            N_("Purge des statistiques du cache"),
            "nightly",
            _cache_traffic_purge,
        ),
    ]

"""The link's scheduled job: the nightly replacement backup sent to the centre (#14 scope 9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp

from appliance.scheduler.jobs import JobContext, JobSpec
from sync.config import SyncConfig
from sync.pra import BACKUP_JOB, back_up
from sync.state import read_link

if TYPE_CHECKING:
    from appliance.core import Core


async def _back_up(context: JobContext) -> str:
    core = context.core
    link = await read_link(core.db)
    # Not an error: a box that is not enrolled, or whose centre keeps no backups.
    if not link.enrolled:
        return "not enrolled: nothing to send"
    if not link.pra_recipient:
        return "the centre published no backup key: nothing sent"
    timeout = aiohttp.ClientTimeout(
        total=core.config.section(SyncConfig).request_timeout_seconds * 30
    )
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return await back_up(core, session)


def sync_jobs(core: Core) -> list[JobSpec]:
    """Return the nightly replacement backup when the link is on."""
    if not core.config.section(SyncConfig).enabled:
        return []
    return [JobSpec(BACKUP_JOB, "Sauvegarde de remplacement vers le centre", "nightly", _back_up)]

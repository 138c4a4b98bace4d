"""The link's nightly jobs: the replacement backup to the centre, the inventory to GLPI."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp

from appliance.i18n import N_
from appliance.scheduler.jobs import JobContext, JobSpec
from sync.config import SyncConfig
from sync.inventory import glpi_inventory, send_inventory
from sync.pra import BACKUP_JOB, back_up
from sync.state import read_link

if TYPE_CHECKING:
    from appliance.core import Core

INVENTORY_JOB = "sync-glpi-inventory"


async def _back_up(context: JobContext) -> str:
    core = context.core
    link = await read_link(core.db)
    # Not an error: a box that is not enrolled, or whose centre keeps no backups.
    if not link.enrolled:
        return "not enrolled: nothing to send"
    if not link.pra_recipient:
        return "the centre published no backup key: nothing sent"
    return await back_up(core)


async def _inventory(context: JobContext) -> str:
    core = context.core
    config = core.config.section(SyncConfig)
    link = await read_link(core.db)
    inventory = await core.executor.run(glpi_inventory, core.config, link.box_id)
    timeout = aiohttp.ClientTimeout(total=config.request_timeout_seconds)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await send_inventory(session, config.inventory_url, inventory)
    return "inventory sent to GLPI"


def sync_jobs(core: Core) -> list[JobSpec]:
    """Return the nightly replacement backup, and the GLPI inventory when GLPI is named."""
    config = core.config.section(SyncConfig)
    if not config.enabled:
        return []
    jobs = [
        JobSpec(BACKUP_JOB, N_("Sauvegarde de remplacement vers le centre"), "nightly", _back_up)
    ]
    if config.inventory_url:
        jobs.append(
            JobSpec(INVENTORY_JOB, N_("Inventaire du boîtier vers GLPI"), "nightly", _inventory)
        )
    return jobs

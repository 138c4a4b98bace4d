"""The portal's scheduled job: usage records past retention are purged nightly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.i18n import N_
from appliance.scheduler.jobs import JobContext, JobSpec
from captive_portal.config import PortalConfig
from captive_portal.state import purge_usage

if TYPE_CHECKING:
    from appliance.core import Core


async def _portal_usage_purge(context: JobContext) -> str:
    removed = await purge_usage(context.core)
    return f"{removed} portal usage records past retention removed"


def portal_jobs(core: Core) -> list[JobSpec]:
    """Return the usage purge when the portal runs."""
    if not core.config.section(PortalConfig).enabled:
        return []
    return [
        JobSpec(
            "portal-usage-purge",
            N_("Purge de la consommation du portail"),
            "nightly",
            _portal_usage_purge,
        )
    ]

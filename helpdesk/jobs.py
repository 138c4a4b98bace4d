"""Help's nightly job: erase the requests closed more than a year ago (ground rule 6)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.i18n import N_
from appliance.scheduler.jobs import JobContext, JobSpec
from helpdesk.help_requests import purge

if TYPE_CHECKING:
    from appliance.core import Core


async def _purge(context: JobContext) -> str:
    removed = await purge(context.core)
    return f"{removed} help requests closed over a year ago erased"


def help_jobs(core: Core) -> list[JobSpec]:
    """Return the purge of old requests."""
    return [
        JobSpec("help-purge", N_("Effacement des demandes d'aide anciennes"), "nightly", _purge)
    ]

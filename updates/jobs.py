"""The updates' job: outcomes the gate could not record at boot reach the DB later."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.i18n import N_
from appliance.scheduler.jobs import JobContext, JobSpec
from updates.record import import_outcomes

if TYPE_CHECKING:
    from appliance.core import Core


async def _record_outcomes(context: JobContext) -> str:
    count = await import_outcomes(context.core)
    return f"{count} update outcomes recorded"


def update_jobs(core: Core) -> list[JobSpec]:
    """Return the job that records update outcomes."""
    return [
        JobSpec(
            "update-outcomes",
            N_("Enregistrer l'issue des mises à jour"),
            "urgent",
            _record_outcomes,
        )
    ]

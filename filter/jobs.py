"""The filter's scheduled jobs: nightly list updates and the blocked-query purge."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.i18n import N_
from appliance.scheduler.jobs import JobContext, JobFunction, JobSpec
from filter.config import FilterConfig
from filter.list_updates import update_list
from filter.state import purge_blocked_log

if TYPE_CHECKING:
    from appliance.core import Core


async def _filter_log_purge(context: JobContext) -> str:
    removed = await purge_blocked_log(context.core)
    return f"{removed} blocked-query records past retention removed"


def _list_update_job(source_name: str) -> JobFunction:
    async def run(context: JobContext) -> str:
        sources = {s.name: s for s in context.core.config.section(FilterConfig).sources}
        return await update_list(context.core, sources[source_name])

    return run


def filter_jobs(core: Core) -> list[JobSpec]:
    """Return the purge of blocked queries and one update job per list source."""
    jobs = [
        JobSpec("filter-log-purge", N_("Purge des requêtes bloquées"), "nightly", _filter_log_purge)
    ]
    for source in core.config.section(FilterConfig).sources:
        jobs.append(
            JobSpec(
                f"list-update-{source.name}",
                N_("Mise à jour de la liste « %(list)s »"),
                "nightly",
                _list_update_job(source.name),
                {"list": source.name},
            )
        )
    return jobs

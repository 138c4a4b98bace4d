"""Maintenance jobs and when they run next.

A job belongs to a class (nightly, weekly, urgent) whose window says when it
may run; it never runs during lessons. The plan is computed from the job's
last success kept in the state DB: a job that already ran in the current
window waits for the next one, and a job whose window was missed (box off, job
failed) runs at the next opening (#7.21, #11.12). Jobs are idempotent and get a
checkpoint they can save to resume after an interruption.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from appliance.audit import utc_now_iso
from appliance.changes import ChangeFeed
from appliance.i18n import N_
from appliance.scheduler.calendar import (
    MaintenanceWindow,
    Opening,
    SchoolCalendar,
    calendar_from_config,
    holidays_from_ics,
    next_opening,
    window_from_config,
)

if TYPE_CHECKING:
    from appliance.core import Core

_LOGGER = logging.getLogger(__name__)

JobClass = Literal["nightly", "weekly", "urgent"]
CALENDAR_TOPIC: Final = "calendar"


class JobContext:
    """What a running job can use: the core and its own checkpoint."""

    def __init__(self, core: Core, job_id: str, checkpoint: str) -> None:
        """Bind the context to one run of one job."""
        self.core = core
        self.job_id = job_id
        self.checkpoint = checkpoint

    async def save_checkpoint(self, value: str) -> None:
        """Persist how far the job got, so a rerun resumes from there."""
        self.checkpoint = value
        await self.core.db.execute_write(
            "UPDATE job_runs SET checkpoint = ? WHERE job_id = ?", (value, self.job_id)
        )


JobFunction = Callable[[JobContext], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A maintenance job: what it is, its class, and what it runs."""

    id: str
    title: str  # French, marked N_, with %(name)s for ``title_values``
    job_class: JobClass
    run: JobFunction
    title_values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlannedJob:
    """A job with its window and its next run."""

    spec: JobSpec
    window: MaintenanceWindow
    last_success: dt.datetime | None
    next_run: Opening | None


def windows_from_core(core: Core) -> dict[JobClass, MaintenanceWindow]:
    """Return the window of each job class."""
    cfg = core.config.scheduler
    return {
        "nightly": window_from_config(cfg.nightly),
        "weekly": window_from_config(cfg.weekly),
        "urgent": MaintenanceWindow.always(),
    }


def _read_ics(path: Path) -> bytes:
    return path.read_bytes()


async def load_calendar(core: Core) -> SchoolCalendar:
    """Build the calendar from config, the holidays file and closed days in the DB."""
    cfg = core.config.scheduler
    holidays = []
    if cfg.holidays_ics is not None:
        try:
            data = await core.executor.run(_read_ics, cfg.holidays_ics)
        except OSError as err:
            raise ValueError(f"scheduler.holidays_ics: {cfg.holidays_ics}: {err}") from err
        holidays = holidays_from_ics(data, str(cfg.holidays_ics))
    rows = await core.db.fetchall("SELECT day FROM closed_days")
    closed = [dt.date.fromisoformat(row["day"]) for row in rows]
    return calendar_from_config(cfg, core.config.site.zone, holidays, closed)


def plan_next_run(
    window: MaintenanceWindow,
    calendar: SchoolCalendar,
    now: dt.datetime,
    last_success: dt.datetime | None,
) -> Opening | None:
    """Return the next run: the next opening, past the window it last succeeded in."""
    opening = next_opening(window, calendar, now)
    if opening is None or last_success is None:
        return opening
    if opening.window_open <= last_success < opening.window_close:
        return next_opening(window, calendar, opening.window_close)
    return opening


async def plan(core: Core, specs: list[JobSpec], now: dt.datetime) -> list[PlannedJob]:
    """Compute every job's next run from the calendar and the DB's run history."""
    calendar = await load_calendar(core)
    windows = windows_from_core(core)
    rows = await core.db.fetchall("SELECT job_id, last_success FROM job_runs")
    successes = {
        row["job_id"]: dt.datetime.fromisoformat(row["last_success"])
        for row in rows
        if row["last_success"]
    }
    planned = []
    for spec in specs:
        window = windows[spec.job_class]
        last = successes.get(spec.id)
        planned.append(PlannedJob(spec, window, last, plan_next_run(window, calendar, now, last)))
    return planned


async def record_plan(core: Core, planned: list[PlannedJob]) -> None:
    """Store the plan so every process (and `preau jobs list`) sees the same."""
    now = utc_now_iso()
    async with core.db.write() as tx:
        await tx.execute("DELETE FROM job_schedule")
        await tx.executemany(
            "INSERT INTO job_schedule (job_id, next_run, computed_at) VALUES (?, ?, ?)",
            [
                (job.spec.id, job.next_run.at.isoformat() if job.next_run else None, now)
                for job in planned
            ],
        )


async def run_job(core: Core, spec: JobSpec) -> bool:
    """Run one job now, recording start, success or error; return success."""
    row = await core.db.fetchone("SELECT checkpoint FROM job_runs WHERE job_id = ?", (spec.id,))
    await core.db.execute_write(
        "INSERT INTO job_runs (job_id, last_started) VALUES (?, ?)"
        " ON CONFLICT (job_id) DO UPDATE SET last_started = excluded.last_started",
        (spec.id, utc_now_iso()),
    )
    context = JobContext(core, spec.id, row["checkpoint"] if row else "")
    try:
        summary = await spec.run(context)
    except Exception as err:
        _LOGGER.exception("Job %s failed", spec.id)
        await core.db.execute_write(
            "UPDATE job_runs SET last_error = ? WHERE job_id = ?",
            (f"{utc_now_iso()} {err}", spec.id),
        )
        return False
    await core.db.execute_write(
        "UPDATE job_runs SET last_success = ?, last_error = '', checkpoint = '' WHERE job_id = ?",
        (utc_now_iso(), spec.id),
    )
    _LOGGER.info("Job %s done: %s", spec.id, summary)
    return True


# -- the built-in jobs -------------------------------------------------------------


async def _directory_sync(context: JobContext) -> str:
    report = await context.core.directory.sync()
    return f"{report.people} people, {report.groups} groups, {report.departed} departed"


async def _audit_purge(context: JobContext) -> str:
    removed = await context.core.audit.purge(context.core.config.audit.retention_days)
    return f"{removed} audit entries past retention removed"


async def _dashboard_history(context: JobContext) -> str:
    from appliance.dashboard_state import note_kept

    return f"{await note_kept(context.core)} dashboard figures noted"


async def _state_maintenance(context: JobContext) -> str:
    db = context.core.db
    pruned = await ChangeFeed.prune(db)
    expired = await db.execute_write(
        "DELETE FROM sessions WHERE expires_at < strftime('%s', 'now') OR revoked_at IS NOT NULL"
    )
    async with db.write() as tx:
        await tx.execute("PRAGMA optimize")
    return f"{pruned} old changes, {expired} ended sessions removed"


def builtin_jobs(core: Core) -> list[JobSpec]:
    """Return the kernel's jobs, then each registered feature's."""
    jobs = [
        JobSpec("audit-purge", N_("Purge du journal d'audit"), "nightly", _audit_purge),
        JobSpec(
            "dashboard-history",
            N_("Relevé des chiffres du tableau de bord"),
            "nightly",
            _dashboard_history,
        ),
        JobSpec(
            "state-maintenance", N_("Entretien de la base d'état"), "weekly", _state_maintenance
        ),
    ]
    if core.config.identity.ldap.enabled:
        jobs.insert(
            0,
            JobSpec(
                "directory-sync", N_("Synchronisation de l'annuaire"), "nightly", _directory_sync
            ),
        )
    for feature in core.features:
        if feature.jobs is not None:
            jobs += feature.jobs(core)
    return jobs

"""The scheduler service: runs maintenance jobs at their next opening.

APScheduler 3.x (``AsyncIOScheduler``) does the timing; the plan itself comes
from :mod:`appliance.scheduler.jobs`. Each job is scheduled for its next
opening with a date trigger and re-planned after every run and whenever the
calendar changes (a closed day added in the admin UI reaches this service
through the change feed, in one process or in its own unit).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import ClassVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from appliance.i18n import N_
from appliance.scheduler.calendar import CalendarError
from appliance.scheduler.jobs import (
    CALENDAR_TOPIC,
    JobSpec,
    builtin_jobs,
    load_calendar,
    plan,
    record_plan,
    run_job,
)
from appliance.service import Health, Service

_LOGGER = logging.getLogger(__name__)

# Late by more than this (event loop stalled, clock jump): skip to the next plan.
MISFIRE_GRACE_SECONDS = 60


class SchedulerService(Service):
    """Run every maintenance job inside its window, never during lessons."""

    name: ClassVar[str] = "scheduler"

    async def async_setup(self) -> None:
        """Create the APScheduler instance and the job list."""
        self._scheduler = AsyncIOScheduler(timezone=self.core.config.site.zone)
        self._specs: list[JobSpec] = builtin_jobs(self.core)
        self._problem = ""
        # APScheduler runs each job as a task of its own and, at shutdown,
        # cancels them without waiting: stopping waits here for them to unwind.
        self._running: set[asyncio.Task[None]] = set()

    async def async_start(self) -> None:
        """Plan every job and start the timer."""
        self._scheduler.start()
        await self.replan()
        self.core.changes.subscribe(CALENDAR_TOPIC, self._on_change)

    async def async_stop(self) -> None:
        """Stop the timer; a running job is cancelled, rolled back, resumed at the next opening."""
        self._scheduler.shutdown(wait=False)
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def async_health(self) -> Health:
        """Report problems reading the calendar."""
        if self._problem:
            return Health(
                "degraded", N_("calendrier illisible : %(problem)s"), {"problem": self._problem}
            )
        jobs = len(self._scheduler.get_jobs())
        return Health("ok", N_("%(jobs)s tâches planifiées"), {"jobs": jobs})

    async def _on_change(self, topic: str) -> None:
        _LOGGER.debug("Re-planning jobs after a %s change", topic)
        await self.replan()

    async def replan(self) -> None:
        """Compute every job's next run and (re)schedule it."""
        now = dt.datetime.now(self.core.config.site.zone)
        try:
            planned = await plan(self.core, self._specs, now)
        except (CalendarError, ValueError) as err:
            self._problem = str(err)
            _LOGGER.error("Cannot plan jobs: %s", err)  # noqa: TRY400 - expected, no traceback
            return
        self._problem = ""
        for job in planned:
            if self._scheduler.get_job(job.spec.id) is not None:
                self._scheduler.remove_job(job.spec.id)
            if job.next_run is None:
                _LOGGER.warning("Job %s has no opening within the horizon", job.spec.id)
                continue
            self._scheduler.add_job(
                self._fire,
                trigger=DateTrigger(run_date=job.next_run.at),
                args=[job.spec],
                id=job.spec.id,
                name=job.spec.title,
                misfire_grace_time=MISFIRE_GRACE_SECONDS,
                coalesce=True,
                max_instances=1,
            )
        await record_plan(self.core, planned)

    async def _fire(self, spec: JobSpec) -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - APScheduler runs coroutine jobs as tasks
        self._running.add(task)
        try:
            await self._run(spec)
        finally:
            self._running.discard(task)

    async def _run(self, spec: JobSpec) -> None:
        calendar = await load_calendar(self.core)
        if calendar.is_class_time(dt.datetime.now(self.core.config.site.zone)):
            # Defensive: the plan never lands in class time, but the clock may jump.
            _LOGGER.warning("Job %s woke during class time; re-planning", spec.id)
        else:
            await run_job(self.core, spec)
        await self.replan()

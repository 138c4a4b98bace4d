"""Jobs: run records, resumable checkpoints, and `preau jobs list` (#7.21, #11.12)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from appliance.core import Core
from appliance.scheduler.calendar import MaintenanceWindow, SchoolCalendar, next_opening
from appliance.scheduler.jobs import JobContext, JobSpec, run_job
from appliance.scheduler.service import SchedulerService
from tests.conftest import make_config, opened_core, run_preau, write_config

PARIS = ZoneInfo("Europe/Paris")


async def test_failed_job_keeps_checkpoint_and_resumes(core: Core) -> None:
    done: list[str] = []
    seen_checkpoints: list[str] = []

    async def work(context: JobContext) -> str:
        seen_checkpoints.append(context.checkpoint)
        items = ["a", "b", "c", "d"]
        start = items.index(context.checkpoint) + 1 if context.checkpoint else 0
        for item in items[start:]:
            if item == "c" and len(seen_checkpoints) == 1:
                raise RuntimeError("power cut")
            done.append(item)
            await context.save_checkpoint(item)
        return "ok"

    spec = JobSpec("test-job", "test", "nightly", work)
    assert not await run_job(core, spec)
    row = await core.db.fetchone("SELECT * FROM job_runs WHERE job_id = 'test-job'")
    assert row is not None
    assert row["checkpoint"] == "b"
    assert "power cut" in row["last_error"]
    assert row["last_success"] is None
    assert await run_job(core, spec)
    assert done == ["a", "b", "c", "d"]  # nothing done twice
    assert seen_checkpoints == ["", "b"]
    row = await core.db.fetchone("SELECT * FROM job_runs WHERE job_id = 'test-job'")
    assert row is not None
    assert row["last_success"] is not None
    assert row["checkpoint"] == ""


def _holiday_ics(first: dt.date, last: dt.date) -> bytes:
    end = last + dt.timedelta(days=1)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//FR\r\nBEGIN:VEVENT\r\n"
        f"UID:h1\r\nDTSTART;VALUE=DATE:{first:%Y%m%d}\r\nDTEND;VALUE=DATE:{end:%Y%m%d}\r\n"
        "SUMMARY:Vacances de test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def test_jobs_list_shows_nightly_job_inside_window_outside_classes_and_holidays(
    tmp_path: Path,
) -> None:
    today = dt.datetime.now(PARIS).date()
    ics = tmp_path / "calendrier.ics"
    # Holidays from yesterday to three days ahead: the next run must come after them.
    ics.write_bytes(_holiday_ics(today - dt.timedelta(days=1), today + dt.timedelta(days=3)))
    # A window that overlaps lessons on purpose (06:00-10:00 vs lessons from 08:00).
    config = make_config(
        tmp_path / "data",
        scheduler={
            "holidays_ics": str(ics),
            "class_hours": ["08:00-12:00", "13:30-17:30"],
            "school_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "nightly": {"hours": "06:00-10:00"},
        },
    )
    path = write_config(config, tmp_path / "preau.toml")
    assert run_preau("state", "migrate", config_path=path).returncode == 0  # a box that started
    result = run_preau("jobs", "list", config_path=path)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("audit-purge"))
    fields = line.split()
    assert fields[1] == "nightly"
    assert fields[2] == "06:00-10:00"
    next_run = dt.datetime.strptime(f"{fields[4]} {fields[5]}", "%Y-%m-%d %H:%M").replace(
        tzinfo=PARIS
    )
    # First day after the holidays, at the window's opening, before lessons start.
    assert next_run == dt.datetime.combine(
        today + dt.timedelta(days=4), dt.time(6, 0), tzinfo=PARIS
    )
    calendar = SchoolCalendar(
        zone=PARIS,
        school_days=frozenset(range(7)),
        class_hours=((8 * 60, 12 * 60), (13 * 60 + 30, 17 * 60 + 30)),
    )
    assert not calendar.is_class_time(next_run)
    # The window closes at 10:00, but from 08:00 lessons take the rest of it.
    opening = next_opening(
        MaintenanceWindow(6 * 60, 10 * 60), calendar, next_run.replace(hour=8, minute=30)
    )
    assert opening is not None
    assert opening.at == next_run + dt.timedelta(days=1)


async def test_stop_waits_for_a_running_job_and_rolls_its_write_back(tmp_path: Path) -> None:
    """Stopping mid-job (SIGTERM at 22:00) leaves the state DB writable, nothing half-written.

    A school with no school day: the urgent job may run now, whatever the hour the
    suite runs at (it waited for the end of lessons when CI ran at 08:15).
    """
    config = make_config(tmp_path / "data", scheduler={"school_days": []})
    async with opened_core(config) as core:
        await _stop_mid_job(core)


async def _stop_mid_job(core: Core) -> None:
    inside = asyncio.Event()

    async def slow_write(context: JobContext) -> str:
        async with context.core.db.write() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('half', 'done')")
            inside.set()
            await asyncio.Event().wait()  # never ends by itself
        return "never"

    service = SchedulerService(core)
    await service.async_setup()
    service._specs = [JobSpec("slow", "test", "urgent", slow_write)]
    await service.async_start()
    await asyncio.wait_for(inside.wait(), timeout=30)
    await service.async_stop()
    assert not service._running  # the job has unwound, not left behind
    assert await core.db.fetchone("SELECT * FROM meta WHERE key = 'half'") is None
    await core.db.execute_write("INSERT INTO meta (key, value) VALUES ('after', 'ok')")

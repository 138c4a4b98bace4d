"""Health rows and published figures: written when they change, seldom otherwise (#15 scope 4).

An idle box must write at most 50 MB a day to its SD card, and each state DB
write is an fsync: health every 5 s from seven processes was most of it.
"""

from __future__ import annotations

import subprocess

from appliance.core import (
    HEALTH_FIGURES_SECONDS,
    HEALTH_HEARTBEAT_SECONDS,
    Core,
    health_due,
)
from appliance.published import METRICS_REFRESH_SECONDS, publish_metrics, published_rows
from appliance.service import Health, Service
from appliance.site_status import services_status

T0 = 1_800_000_000.0


def test_health_is_due_on_change_and_as_a_heartbeat() -> None:
    shown = ("ok", "%(jobs)s tâches", '{"jobs": 3}')
    assert health_due(None, shown, T0)
    written = (shown, T0)
    assert not health_due(written, shown, T0 + HEALTH_HEARTBEAT_SECONDS - 1)
    assert health_due(written, shown, T0 + HEALTH_HEARTBEAT_SECONDS)
    # A new status or message: at once.
    assert health_due(written, ("degraded", shown[1], shown[2]), T0 + 1)
    assert health_due(written, ("ok", "autre", shown[2]), T0 + 1)
    # Only the figures: at most every HEALTH_FIGURES_SECONDS.
    moved = ("ok", shown[1], '{"jobs": 4}')
    assert not health_due(written, moved, T0 + HEALTH_FIGURES_SECONDS - 1)
    assert health_due(written, moved, T0 + HEALTH_FIGURES_SECONDS)


class Counting(Service):
    """A service whose health the test sets."""

    name = "scheduler"
    health = Health("ok", "%(jobs)s tâches planifiées", {"jobs": 1})

    async def async_start(self) -> None:
        pass

    async def async_stop(self) -> None:
        pass

    async def async_health(self) -> Health:
        return self.health


async def written_at(core: Core) -> float:
    row = await core.db.fetchone(
        "SELECT updated_at FROM service_health WHERE service = 'scheduler'"
    )
    assert row is not None
    return float(row[0])


async def test_an_unchanged_health_is_not_rewritten(core: Core) -> None:
    service = Counting(core)
    core.services["scheduler"] = service
    try:
        await core.report_health(now=T0)
        await core.report_health(now=T0 + 5)
        await core.report_health(now=T0 + 60)
        assert await written_at(core) == T0
        service.health = Health("down", "en panne", {})
        await core.report_health(now=T0 + 65)
        assert await written_at(core) == T0 + 65
        await core.report_health(now=T0 + 65 + HEALTH_HEARTBEAT_SECONDS)
        assert await written_at(core) == T0 + 65 + HEALTH_HEARTBEAT_SECONDS
    finally:
        del core.services["scheduler"]


def exited_pid() -> int:
    """Return the pid of a process that has exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


async def test_a_row_of_an_exited_process_shows_stopped(core: Core) -> None:
    """A kill -9 leaves the row behind; the dashboard must not show it running for minutes."""
    await core.report_health()
    async with core.db.write() as tx:
        await tx.execute(
            "INSERT INTO service_health (service, status, detail, detail_values, pid,"
            " updated_at) VALUES ('scheduler', 'ok', '', '{}', ?, strftime('%s', 'now'))",
            (exited_pid(),),
        )
    status = {s.name: s.status for s in await services_status(core)}
    assert status["scheduler"] == "stopped"


async def test_unchanged_figures_are_written_once_and_go_with_their_process(core: Core) -> None:
    figures = [("preau_filter_list_domains", "", 5.0)]
    await publish_metrics(core, "filter", figures, now=T0)
    await publish_metrics(core, "filter", figures, now=T0 + 10)
    rows = await core.db.fetchall("SELECT updated_at FROM service_metrics")
    assert [row[0] for row in rows] == [T0]
    await publish_metrics(core, "filter", [("preau_filter_list_domains", "", 6.0)], now=T0 + 20)
    await publish_metrics(core, "filter", [("preau_filter_list_domains", "", 6.0)],
                          now=T0 + 20 + METRICS_REFRESH_SECONDS)  # fmt: skip
    rows = await core.db.fetchall("SELECT value, updated_at FROM service_metrics")
    assert [tuple(row) for row in rows] == [(6.0, T0 + 20 + METRICS_REFRESH_SECONDS)]
    # Shown while the service's process runs; gone once it exited.
    await publish_metrics(core, "filter", figures)
    assert await published_rows(core) == figures
    async with core.db.write() as tx:
        await tx.execute(
            "INSERT INTO service_health (service, status, detail, detail_values, pid,"
            " updated_at) VALUES ('filter', 'ok', '', '{}', ?, strftime('%s', 'now'))",
            (exited_pid(),),
        )
    assert await published_rows(core) == []

"""Figures a service publishes for /metrics, through the state DB.

Each service runs in its own process (one systemd unit each) while /metrics
is served by the web's: a service writes its figures to ``service_metrics``
and :mod:`appliance.metrics` reads them at each scrape. Kept apart from that
module so that a service's process never imports the Prometheus client.

A service's figures are written when they change and otherwise rewritten
every METRICS_REFRESH_SECONDS (each write is an fsync on the box's SD card);
/metrics shows them while that refresh is kept up and the service's process
is alive, as the dashboard does for health rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from appliance.core import HEALTH_HEARTBEAT_SECONDS, HEALTH_STALE_SECONDS
from appliance.site_status import process_alive

if TYPE_CHECKING:
    from appliance.core import Core

METRICS_REFRESH_SECONDS: Final = HEALTH_HEARTBEAT_SECONDS
METRICS_STALE_SECONDS: Final = HEALTH_STALE_SECONDS


async def published_rows(core: Core) -> list[tuple[str, str, float]]:
    """Return the figures of services still running: (name, labels, value)."""
    rows = await core.db.fetchall(
        "SELECT m.name, m.labels, m.value, h.pid FROM service_metrics m"
        " LEFT JOIN service_health h ON h.service = m.service WHERE m.updated_at > ?",
        (time.time() - METRICS_STALE_SECONDS,),
    )
    return [
        (row["name"], row["labels"], float(row["value"]))
        for row in rows
        # No health row: published by a command, not a running service.
        if row["pid"] is None or process_alive(row["pid"])
    ]


async def publish_metrics(
    core: Core, service: str, values: Iterable[tuple[str, str, float]], now: float | None = None
) -> None:
    """Replace a service's published figures (name, labels, value) for /metrics, when due."""
    now = time.time() if now is None else now
    rows = list(values)
    written = core.shared(PublishedFigures).written
    last = written.get(service)
    if last is not None and last[0] == rows and now - last[1] < METRICS_REFRESH_SECONDS:
        return
    async with core.db.write() as tx:
        await tx.execute("DELETE FROM service_metrics WHERE service = ?", (service,))
        await tx.executemany(
            "INSERT INTO service_metrics (service, name, labels, value, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(service, name, labels, value, now) for name, labels, value in rows],
        )
    written[service] = (rows, now)


class PublishedFigures:
    """What this process last wrote of each service's figures, and when."""

    def __init__(self, core: Core) -> None:
        """Start with nothing written."""
        self.written: dict[str, tuple[list[tuple[str, str, float]], float]] = {}

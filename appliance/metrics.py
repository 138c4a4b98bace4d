"""Prometheus metrics at /metrics: host and process figures, service health.

A fresh registry is filled at each scrape from a snapshot read in the
executor, so nothing is global and nothing blocks the event loop. No personal
data is ever a label (ground rule 6).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from appliance.core import HEALTH_HEARTBEAT_SECONDS, HEALTH_STALE_SECONDS
from appliance.site_status import (
    HostFigures,
    ServiceStatus,
    process_alive,
    read_host_figures,
    services_status,
)

if TYPE_CHECKING:
    from appliance.core import Core

# A service's published figures are written when they change and otherwise
# rewritten every METRICS_REFRESH_SECONDS (each write is an fsync on the box's
# SD card); /metrics shows them while that refresh is kept up and the
# service's process is alive, as the dashboard does for health rows.
METRICS_REFRESH_SECONDS = HEALTH_HEARTBEAT_SECONDS
METRICS_STALE_SECONDS = HEALTH_STALE_SECONDS

_STATUS_VALUE = {"ok": 1.0, "degraded": 0.5, "down": 0.0, "stopped": 0.0}


class SiteCollector(Collector):
    """Expose one snapshot of the site's figures."""

    def __init__(
        self,
        host: HostFigures,
        services: list[ServiceStatus],
        version: str,
        published: list[tuple[str, str, float]],
    ) -> None:
        """Hold the snapshot to expose."""
        self._host = host
        self._services = services
        self._version = version
        self._published = published

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families."""
        info = InfoMetricFamily("preau_build", "Préau version")
        info.add_metric([], {"version": self._version})
        yield info
        up = GaugeMetricFamily(
            "preau_service_up",
            "1 when the service reports ok, 0.5 degraded, 0 down or stopped",
            labels=["service"],
        )
        for service in self._services:
            up.add_metric([service.name], _STATUS_VALUE[service.status])
        yield up
        host = self._host
        yield GaugeMetricFamily("preau_host_cpu_percent", "Host CPU use", value=host.cpu_percent)
        yield GaugeMetricFamily(
            "preau_host_memory_used_bytes", "Host memory in use", value=host.memory_used_bytes
        )
        yield GaugeMetricFamily(
            "preau_host_memory_total_bytes", "Host memory", value=host.memory_total_bytes
        )
        yield GaugeMetricFamily(
            "preau_data_disk_free_bytes", "Free space on the data disk", value=host.disk_free_bytes
        )
        yield GaugeMetricFamily(
            "preau_data_disk_total_bytes", "Size of the data disk", value=host.disk_total_bytes
        )
        yield GaugeMetricFamily(
            "preau_host_boot_time_seconds", "Host boot time (Unix)", value=host.boot_time
        )
        yield from published_families(self._published)


def _labels(text: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', text))


def published_families(rows: list[tuple[str, str, float]]) -> Iterator[Metric]:
    """Turn figures other processes published in the state DB into metric families."""
    by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, label_text, value in rows:
        by_name.setdefault(name, []).append((_labels(label_text), value))
    for name, samples in sorted(by_name.items()):
        label_names = sorted({key for sample_labels, _ in samples for key in sample_labels})
        is_counter = name.endswith("_total")
        family: GaugeMetricFamily | CounterMetricFamily
        if is_counter:
            family = CounterMetricFamily(name[: -len("_total")], name, labels=label_names)
        else:
            family = GaugeMetricFamily(name, name, labels=label_names)
        for sample_labels, value in samples:
            family.add_metric([sample_labels.get(key, "") for key in label_names], value)
        yield family


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


async def render_metrics(core: Core) -> bytes:
    """Return the Prometheus text exposition of the site."""
    from importlib.metadata import version

    host = await core.executor.run(read_host_figures, core.config.site.data_dir)
    services = await services_status(core)
    registry = CollectorRegistry(auto_describe=False)
    published = await published_rows(core)
    registry.register(SiteCollector(host, services, version("preau"), published))
    ProcessCollector(namespace="preau", registry=registry)
    return await core.executor.run(generate_latest, registry)


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

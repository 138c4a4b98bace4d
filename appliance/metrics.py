"""Prometheus metrics at /metrics: host and process figures, service health.

A fresh registry is filled at each scrape from a snapshot read in the
executor, so nothing is global and nothing blocks the event loop. No personal
data is ever a label (ground rule 6).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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

from appliance.published import published_rows
from appliance.site_status import HostFigures, ServiceStatus, read_host_figures, services_status

if TYPE_CHECKING:
    from appliance.core import Core

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

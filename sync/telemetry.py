"""The site report in the shapes a collectivité already runs: Prometheus, both ways.

- **remote_write** (pushed from behind NAT): the report's figures become
  samples stamped with the report's own time, in Prometheus's remote-write
  protocol (protobuf ``prometheus.WriteRequest``, snappy block format). A
  report sent twice after a lost answer gives the same samples at the same
  timestamps, which the receiver keeps once; a backlog goes oldest first.
  The message types are built at import from their field list with protobuf's
  own descriptor classes (no generated file to keep in step).
- **OpenMetrics** (pulled by the central Prometheus): the same figures as a
  text exposition (:func:`openmetrics`).

Both only ever carry what :class:`sync.report.SiteReport` holds, so the
allow-list and the suppression of small counts apply to them as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.registry import Collector

from sync.report import SiteReport

_STATUS: Final = {"ok": 1.0, "degraded": 0.5, "down": 0.0, "stopped": 0.0}
REMOTE_WRITE_HEADERS: Final = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def _message_classes() -> tuple[Any, Any, Any, Any]:
    """Return the WriteRequest, TimeSeries, Label and Sample classes (prompb's types.proto)."""
    file = descriptor_pb2.FileDescriptorProto(name="preau_prompb.proto", package="prometheus")
    kinds = descriptor_pb2.FieldDescriptorProto
    layout = {
        "WriteRequest": [("timeseries", 1, kinds.TYPE_MESSAGE, ".prometheus.TimeSeries", True)],
        "TimeSeries": [
            ("labels", 1, kinds.TYPE_MESSAGE, ".prometheus.Label", True),
            ("samples", 2, kinds.TYPE_MESSAGE, ".prometheus.Sample", True),
        ],
        "Label": [
            ("name", 1, kinds.TYPE_STRING, "", False),
            ("value", 2, kinds.TYPE_STRING, "", False),
        ],
        "Sample": [
            ("value", 1, kinds.TYPE_DOUBLE, "", False),
            ("timestamp", 2, kinds.TYPE_INT64, "", False),
        ],
    }
    for name, fields in layout.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, type_name, repeated in fields:
            field = message.field.add(name=field_name, number=number, type=kind)
            field.label = kinds.LABEL_REPEATED if repeated else kinds.LABEL_OPTIONAL
            if type_name:
                field.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return tuple(  # type: ignore[return-value]
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
        for name in ("WriteRequest", "TimeSeries", "Label", "Sample")
    )


WriteRequest, TimeSeries, Label, Sample = _message_classes()


def samples(report: SiteReport) -> Iterator[tuple[dict[str, str], float]]:
    """Yield every figure of a report as (labels with ``__name__``, value)."""
    site = {"site": report.uai}
    yield {"__name__": "preau_site_report_generated_seconds", **site}, report.generated_at
    for service in report.services:
        yield (
            {"__name__": "preau_service_up", "service": service.name, **site},
            _STATUS[service.status],
        )
    host = report.host
    yield {"__name__": "preau_host_disk_used_percent", **site}, host.disk_used_percent
    yield {"__name__": "preau_host_memory_used_percent", **site}, host.memory_used_percent
    yield {"__name__": "preau_host_uptime_seconds", **site}, host.uptime_seconds
    link = report.link
    yield {"__name__": "preau_sync_policy_version", **site}, float(link.policy_version)
    yield {"__name__": "preau_sync_policy_stale", **site}, float(link.policy_stale)
    yield {"__name__": "preau_sync_spool_bytes", **site}, float(link.spool_bytes)
    yield {"__name__": "preau_sync_spool_dropped_total", **site}, float(link.spool_dropped_total)
    for figure in report.figures:
        if figure.value is not None:
            yield {"__name__": figure.name, **figure.labels, **site}, figure.value


def remote_write_body(reports: list[SiteReport]) -> bytes:
    """Return one remote-write request carrying every report's samples (snappy-compressed)."""
    request = WriteRequest()
    by_series: dict[tuple[tuple[str, str], ...], list[tuple[float, int]]] = {}
    for report in reports:
        stamp = round(report.generated_at * 1000)
        for labels, value in samples(report):
            by_series.setdefault(tuple(sorted(labels.items())), []).append((value, stamp))
    for pairs, points in by_series.items():
        series = request.timeseries.add()
        for name, text in pairs:  # sorted by name, as the protocol asks
            series.labels.add(name=name, value=text)
        for number, stamp in sorted(points, key=lambda point: point[1]):
            series.samples.add(value=number, timestamp=stamp)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def read_remote_write(body: bytes) -> list[tuple[dict[str, str], list[tuple[float, int]]]]:
    """Decode a remote-write request (for the tests and the benchmark's receiver check)."""
    request = WriteRequest()
    request.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    return [
        (
            {label.name: label.value for label in series.labels},
            [(sample.value, sample.timestamp) for sample in series.samples],
        )
        for series in request.timeseries
    ]


class _ReportCollector(Collector):
    def __init__(self, report: SiteReport) -> None:
        self._report = report

    def collect(self) -> Iterator[Metric]:
        families: dict[str, tuple[GaugeMetricFamily, list[str]]] = {}
        for labels, value in samples(self._report):
            name = labels["__name__"].removesuffix("_total")
            if name not in families:
                keys = sorted(k for k in labels if k != "__name__")
                families[name] = (GaugeMetricFamily(name, name, labels=keys), keys)
            family, keys = families[name]
            family.add_metric([labels.get(k, "") for k in keys], value)
        for family, _keys in families.values():
            yield family


def openmetrics(report: SiteReport) -> bytes:
    """Return the report's figures as an OpenMetrics text exposition."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ReportCollector(report))
    return bytes(generate_latest(registry))  # type: ignore[no-untyped-call]

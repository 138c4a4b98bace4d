"""The site report: what the centre may know about a school's box, and nothing else.

Pure: it takes the figures the kernel and the features already publish
(service health, host figures, the ``service_metrics`` rows behind /metrics)
and keeps only what :data:`ALLOWED` names, with only the label keys it
names. There is no per-device or per-person row anywhere: a figure is a count
or a site-level gauge. Counts of people or devices under :data:`K_MIN` are
suppressed (``null``), so a class of three cannot be told apart (CARMO
chapter 20, ground rule 6).

The report is versioned (:data:`SCHEMA`); :class:`SiteReport` is the schema
published at ``/api/v1/sync/report.schema.json`` and in ``docs/``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA: Final = "preau.site-report/1"
K_MIN: Final = 5

# name -> (label keys kept, "people" when it counts people or devices)
ALLOWED: Final[Mapping[str, tuple[tuple[str, ...], bool]]] = {
    "preau_filter_events_total": (("event",), False),
    "preau_filter_blocked_total": (("group", "category"), False),
    "preau_filter_cache_hit_ratio": ((), False),
    "preau_filter_list_domains": ((), False),
    "preau_filter_upstream_failures_total": ((), False),
    "preau_portal_sessions": ((), True),
    "preau_portal_devices": ((), True),
    "preau_portal_blocked_devices": ((), True),
    "preau_portal_throttled_sessions": ((), True),
    "preau_cache_used_bytes": ((), False),
    "preau_cache_objects": ((), False),
    "preau_cache_served_bytes_total": (("class",), False),
    "preau_cache_fetched_bytes_total": (("class",), False),
    "preau_cache_requests_total": (("class", "outcome"), False),
    # From the features' site figures (appliance.features.Feature.site_figures).
    "preau_storage_used_bytes": (("space",), False),
    "preau_storage_near_quota": (("space",), True),
    "preau_antivirus_signatures_age_seconds": ((), False),
    "preau_backup_failing": ((), False),
    "preau_backup_age_seconds": ((), False),
    "preau_restore_test_failing": ((), False),
    "preau_restore_test_age_seconds": ((), False),
    "preau_store_installs_total": (("app", "platform"), True),
    "preau_cart_devices": (("cart",), False),
    "preau_cart_devices_online": (("cart",), True),
    # The CARMO conformity summary: 1 or 0 per requirement id ("8.12").
    "preau_carmo_met": (("requirement",), False),
}
# A label value that looks like an address or a device is never sent, whatever its key.
_PERSONAL: Final = re.compile(
    r"([0-9a-f]{2}[:-]){5}[0-9a-f]{2}|\b\d{1,3}(\.\d{1,3}){3}\b|[0-9a-f]*:[0-9a-f:]*:[0-9a-f]|@",
    re.IGNORECASE,
)
_LABELS: Final = re.compile(r'(\w+)="([^"]*)"')
# A label value is a name from a vocabulary (a filter group, a UT1 category, a
# content class): lower case, no space. Anything else (a person's name) is dropped.
_VOCABULARY: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,47}$")


class Figure(BaseModel):
    """One allow-listed figure: a name, its labels, a value (null when suppressed)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    value: float | None


class ServiceState(BaseModel):
    """One service's state."""

    model_config = ConfigDict(extra="forbid")

    name: str
    status: Literal["ok", "degraded", "down", "stopped"]


class Host(BaseModel):
    """The box's hardware figures."""

    model_config = ConfigDict(extra="forbid")

    disk_used_percent: float
    memory_used_percent: float
    uptime_seconds: float


class LinkFigures(BaseModel):
    """The link's own figures: the policy in force and the spool."""

    model_config = ConfigDict(extra="forbid")

    policy_version: int
    policy_stale: bool
    spool_bytes: int
    spool_dropped_total: int


class SiteReport(BaseModel):
    """A site report (schema ``preau.site-report/1``)."""

    model_config = ConfigDict(extra="forbid")

    schema_: Literal["preau.site-report/1"] = Field(SCHEMA, alias="schema")
    key: str = Field(description="idempotency key: box id and sequence number")
    uai: str
    generated_at: float
    version: str
    host: Host
    services: list[ServiceState]
    link: LinkFigures
    figures: list[Figure]


def safe_figures(
    rows: Iterable[tuple[str, str, float]], people: Collection[str] = ()
) -> list[Figure]:
    """Keep the allow-listed rows and labels, never a value naming one of ``people``.

    ``people`` are the directory's logins: a label value equal to one is dropped
    with its row, even when it has the shape of a vocabulary word.
    """
    kept: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for name, label_text, value in rows:
        allowed = ALLOWED.get(name)
        if allowed is None:
            continue
        keys, _people = allowed
        labels = {k: v for k, v in _LABELS.findall(label_text) if k in keys}
        if any(
            _PERSONAL.search(v) or not _VOCABULARY.match(v) or v in people for v in labels.values()
        ):
            continue
        key = (name, tuple(sorted(labels.items())))
        kept[key] = kept.get(key, 0.0) + value
    figures = []
    for (name, label_pairs), value in sorted(kept.items()):
        counts_people = ALLOWED[name][1]
        shown = None if counts_people and 0 < value < K_MIN else value
        figures.append(Figure(name=name, labels=dict(label_pairs), value=shown))
    return figures

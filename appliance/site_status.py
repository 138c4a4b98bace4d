"""What the dashboard, the API and /metrics say about the site.

Health rows are written by every process running a service (see
:meth:`appliance.core.Core.report_health`), seldom when nothing changes; a
row whose process has exited, or that stopped being refreshed, means the
service is not running. Host figures come from psutil, in the
executor because psutil reads /proc.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from appliance.core import HEALTH_STALE_SECONDS
from appliance.services import enabled_service_names

if TYPE_CHECKING:
    from appliance.config import PreauConfig
    from appliance.core import Core

ShownStatus = Literal["ok", "degraded", "down", "stopped"]


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """A service's health as seen from the state DB."""

    name: str
    status: ShownStatus
    detail: str  # French, a message id: see appliance.service.Health
    updated_at: float | None
    values: dict[str, str | int | float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HostFigures:
    """CPU, memory, disk and uptime of the box and of this process."""

    cpu_percent: float
    memory_percent: float
    memory_used_bytes: int
    memory_total_bytes: int
    disk_percent: float
    disk_free_bytes: int
    disk_total_bytes: int
    boot_time: float
    process_start: float
    process_rss_bytes: int


async def services_status(core: Core) -> list[ServiceStatus]:
    """Return every known service's health, 'stopped' when no process reports it."""
    rows = await core.db.fetchall(
        "SELECT service, status, detail, detail_values, pid, updated_at FROM service_health"
    )
    by_name = {row["service"]: row for row in rows}
    now = time.time()
    result = []
    for name in enabled_service_names(core.config, core.features):
        row = by_name.get(name)
        if (
            row is None
            or now - row["updated_at"] > HEALTH_STALE_SECONDS
            or not process_alive(row["pid"])
        ):
            result.append(ServiceStatus(name, "stopped", "", row["updated_at"] if row else None))
        else:
            values = json.loads(row["detail_values"] or "{}")
            result.append(
                ServiceStatus(name, row["status"], row["detail"], row["updated_at"], values)
            )
    return result


def process_alive(pid: int) -> bool:
    """Tell whether a process of this box has that pid (every unit shares the pid namespace)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def read_host_figures(data_dir: Path) -> HostFigures:
    """Read host figures (blocking: run it in the executor)."""
    import psutil  # only where the site's figures are read: 2 MB a process (#15)

    memory = psutil.virtual_memory()
    target = data_dir if data_dir.exists() else Path("/")
    disk = psutil.disk_usage(str(target))
    process = psutil.Process(os.getpid())
    return HostFigures(
        cpu_percent=psutil.cpu_percent(interval=None),
        memory_percent=memory.percent,
        memory_used_bytes=memory.total - memory.available,
        memory_total_bytes=memory.total,
        disk_percent=disk.percent,
        disk_free_bytes=disk.free,
        disk_total_bytes=disk.total,
        boot_time=psutil.boot_time(),
        process_start=process.create_time(),
        process_rss_bytes=process.memory_info().rss,
    )


# The CARMO conformity summary (#14, chapter 20): one row per requirement a site's
# setup decides, 1 when it holds and 0 when not; a requirement that does not apply
# to this box (no directory, no backup target) has no row. Features add theirs
# through their site figures; the kernel's are below.
CARMO_FIGURE: Final = "preau_carmo_met"


def carmo_row(requirement: str, met: bool) -> tuple[str, str, float]:
    """Return one conformity row: ``requirement`` is a CARMO id without its « # »."""
    return (CARMO_FIGURE, f'requirement="{requirement}"', float(met))


def kernel_conformity(config: PreauConfig) -> list[tuple[str, str, float]]:
    """Return what the kernel's setup decides: HTTPS for the admin UI, a secured directory."""
    rows = [carmo_row("7.43", config.web.tls_cert is not None)]  # management over HTTPS
    if config.identity.ldap.enabled:
        # The config refuses a directory without LDAPS or StartTLS (#7.54).
        rows.append(carmo_row("7.54", True))
    return rows

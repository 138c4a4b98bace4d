"""The box as GLPI sees a computer: an inventory in GLPI's native JSON format.

The collectivité's central team keeps its inventory in GLPI. GLPI 10 reads
the agents' native format (https://github.com/glpi-project/inventory_format),
so the box describes itself in it: no custom adapter on the GLPI side. The
file is imported there, or fetched from the API by whatever pulls it. It
describes the box only: its name, system, processor, memory, disks and
Préau's version; never a person nor a device of the school (CARMO table 9).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import psutil

from appliance.config import PreauConfig

OS_RELEASE: Final = Path("/etc/os-release")
MB: Final = 1024 * 1024
# The mounts worth an inventory line: real filesystems, not the kernel's.
REAL_FILESYSTEMS: Final = frozenset({"ext4", "ext3", "xfs", "btrfs", "vfat", "f2fs", "zfs"})


def _os_release(path: Path = OS_RELEASE) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return values
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"')
    return values


def _when(stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def glpi_inventory(config: PreauConfig, box_id: str = "") -> dict[str, Any]:
    """Return the box's inventory (blocking: it reads the system)."""
    release = _os_release()
    version = metadata.version("preau")
    name = socket.gethostname()
    school = config.site.schools[0]
    drives = []
    seen: set[str] = set()
    # One line per device, at its shortest mount point (bind mounts repeat it).
    partitions = sorted(psutil.disk_partitions(all=False), key=lambda p: len(p.mountpoint))
    for part in partitions:
        if part.fstype not in REAL_FILESYSTEMS or part.device in seen:
            continue
        seen.add(part.device)
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            continue
        drives.append(
            {
                "type": part.mountpoint,
                "filesystem": part.fstype,
                "total": usage.total // MB,
                "free": usage.free // MB,
                "volumn": part.device,
            }
        )
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    machine = platform.machine()
    return {
        # GLPI matches an agent by this id: the box's enrolment id once it has one.
        "deviceid": box_id or f"preau-{school.uai}-{name}",
        "itemtype": "Computer",
        "action": "inventory",
        "content": {
            "versionclient": f"Preau_v{version}",
            "hardware": {
                "name": name,
                "memory": psutil.virtual_memory().total // MB,
                "swap": psutil.swap_memory().total // MB,
                "chassis_type": "Mini PC",
                "description": f"Préau — {school.name} ({school.uai})",
            },
            "operatingsystem": {
                "arch": machine,
                "boot_time": _when(psutil.boot_time()),
                "full_name": release.get("PRETTY_NAME", platform.system()),
                "kernel_name": platform.system().lower(),
                "kernel_version": platform.release(),
                "name": release.get("NAME", platform.system()),
                "version": release.get("VERSION_ID", ""),
                "fqdn": socket.getfqdn(),
            },
            "cpus": [
                {
                    "arch": machine,
                    "core": cores,
                    "thread": os.cpu_count() or cores,
                    "name": platform.processor() or machine,
                }
            ],
            "drives": drives,
            "softwares": [
                {"name": "preau", "version": version, "publisher": "Préau", "from": "python"}
            ],
        },
    }

"""The box as GLPI sees a computer: an inventory in GLPI's native JSON format.

The collectivité's central team keeps its inventory in GLPI. GLPI 10 reads
the agents' native format (https://github.com/glpi-project/inventory_format),
so the box describes itself in it: no custom adapter on the GLPI side. The
file is imported there, fetched from the API by whatever pulls it, or sent
every night by the box itself (:func:`send_inventory`, job
``sync-glpi-inventory``) as a GLPI agent does: a POST of the JSON to
``front/inventory.php`` with a stable ``GLPI-Agent-ID``. It describes the box
only: its name, system, processor, memory, disks and Préau's version; never a
person nor a device of the school (CARMO table 9).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import aiohttp
import psutil

from appliance.config import PreauConfig
from appliance.i18n import N_
from appliance.problems import UserError

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


class InventoryError(UserError):
    """GLPI refused the inventory or could not be reached."""


def agent_id(deviceid: str) -> str:
    """Return the box's GLPI agent id: a UUID that stays the same for one device id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:preau:{deviceid}"))


async def send_inventory(
    session: aiohttp.ClientSession, url: str, inventory: dict[str, Any]
) -> None:
    """POST the inventory to GLPI as its agents do; refuse anything but GLPI's « ok »."""
    headers = {
        "Content-Type": "application/json",
        "GLPI-Agent-ID": agent_id(str(inventory["deviceid"])),
        "User-Agent": str(inventory["content"]["versionclient"]),
    }
    body = json.dumps(inventory, ensure_ascii=False).encode()
    try:
        async with session.post(url, data=body, headers=headers) as response:
            text = await response.text()
            status = response.status
    except aiohttp.ClientError as err:
        raise InventoryError(N_("GLPI injoignable : %(error)s"), error=str(err)) from err
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {}
    if status // 100 != 2 or not isinstance(answer, dict) or answer.get("status") != "ok":
        message = answer.get("message", text) if isinstance(answer, dict) else text
        raise InventoryError(
            N_("GLPI a refusé l'inventaire (%(status)s) : %(reason)s"),
            status=status, reason=str(message)[:200],
        )  # fmt: skip

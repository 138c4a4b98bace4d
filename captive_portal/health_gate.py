"""The portal's part of an update's health gate: its sets in the kernel, DHCP listening.

Run as root by the gate on the booted slot, outside the portal's process:
``nft`` lists the portal's table and the sets its logins fill; a UDP socket
on port 67 (``/proc/net/udp``) is the pupils' DHCP. A box whose portal is
off has no probe here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Final

from appliance.features import GateFailure, GateProbe
from appliance.i18n import N_
from captive_portal.config import PortalConfig
from captive_portal.nftables import NFT
from captive_portal.ruleset import FAMILY, TABLE

if TYPE_CHECKING:
    from appliance.config import PreauConfig

# The sets without which nobody logs in: the logged-in and the walled garden.
NEEDED_SETS: Final = ("auth_v4", "garden_v4")
DHCP_PORT: Final = 67


async def _nft_set_listed(name: str) -> bool:
    process = await asyncio.create_subprocess_exec(
        NFT,
        "list",
        "set",
        FAMILY,
        TABLE,
        name,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await process.wait() == 0


def udp_listening(port: int, tables: tuple[Path, ...]) -> bool:
    """Return whether some socket in TABLES (``/proc/net/udp`` format) is bound to PORT."""
    wanted = f":{port:04X}"
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        if any(line.split()[1].endswith(wanted) for line in lines if line.split()):
            return True
    return False


def gate_probes(config: PreauConfig) -> list[GateProbe]:
    """Return the portal's probes when the box runs its portal."""
    portal = config.section(PortalConfig)
    if not portal.enabled:
        return []

    async def sets_loaded() -> None:
        for name in NEEDED_SETS:
            if not await _nft_set_listed(name):
                raise GateFailure(N_("les ensembles du portail ne sont pas chargés"))

    async def dhcp_listening() -> None:
        tables = (Path("/proc/net/udp"), Path("/proc/net/udp6"))
        if not udp_listening(DHCP_PORT, tables):  # /proc: answered from memory
            raise GateFailure(N_("le DHCP des appareils personnels n'écoute pas"))

    probes = [GateProbe(N_("Les ensembles du portail sont chargés"), sets_loaded)]
    if portal.dhcp:
        probes.append(GateProbe(N_("Le DHCP des appareils personnels écoute"), dhcp_listening))
    return probes

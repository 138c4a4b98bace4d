"""The portal's public answer to "what of a class's cart is on the network?" (#9.7).

Issue #13 scope 5: the teacher's page shows, besides the class's pupils on
the Wi-Fi, the devices of the carts assigned to the class
(``portal.carts``), online or not, from what the network knows: the DHCP
inventory the portal keeps (a device holding a lease is on; when it was
last heard of). Never what a device does (#9.18). The filter's teacher page
asks :func:`carts_of_class`; it never reads the portal's tables itself.
A device's battery is shown when an MDM reported it in the last hours
(:func:`record_battery`, ``PUT /api/v1/portal/carts/devices/{mac}``): only a
configured cart's devices are accepted, never a person's own.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from appliance.i18n import N_
from appliance.problems import UserError
from captive_portal.config import MAC_ADDRESS, CartConfig, PortalConfig

if TYPE_CHECKING:
    from appliance.core import Core


# A battery level older than this is not shown (a cart left in a cupboard).
REPORT_FRESH_SECONDS: Final = 6 * 3600


class CartReportError(UserError):
    """A report about a device that is no cart's, or a level out of range."""


@dataclass(frozen=True, slots=True)
class CartDevice:
    """One device of a cart: its name on the network, and whether it holds a lease now."""

    name: str
    online: bool
    last_seen: float | None  # None: never seen by DHCP
    battery: int | None = None  # per cent, when an MDM reported it lately


@dataclass(frozen=True, slots=True)
class CartView:
    """A cart assigned to the class, with its devices in name order."""

    name: str
    devices: tuple[CartDevice, ...]

    @property
    def online(self) -> int:
        """Return how many of its devices are on the network now."""
        return sum(1 for device in self.devices if device.online)


def _of_cart(
    cart: CartConfig,
    seen: list[dict[str, object]],
    batteries: dict[str, int],
    lease: float,
    now: float,
) -> CartView:
    by_mac = {str(row["mac"]): row for row in seen}
    chosen: dict[str, dict[str, object] | None] = {mac: by_mac.get(mac) for mac in cart.macs}
    if cart.hostname_prefix:
        prefix = cart.hostname_prefix.casefold()
        for row in seen:
            if str(row["hostname"]).casefold().startswith(prefix):
                chosen[str(row["mac"])] = row
    devices = []
    for number, mac in enumerate(sorted(chosen), start=1):
        found = chosen[mac]
        battery = batteries.get(mac)
        if found is None:
            devices.append(CartDevice(f"n° {number}", False, None, battery))
            continue
        last = float(str(found["last_seen"]))
        name = str(found["hostname"]) or f"n° {number}"
        devices.append(CartDevice(name, last + lease > now, last, battery))
    return CartView(cart.name, tuple(sorted(devices, key=lambda d: d.name)))


async def carts_of_class(core: Core, class_name: str, now: float) -> list[CartView]:
    """Return the carts assigned to ``class_name`` with their devices' state."""
    config = core.config.section(PortalConfig)
    carts = [cart for cart in config.carts if class_name in cart.classes]
    if not carts:
        return []
    rows = await core.db.fetchall("SELECT mac, hostname, last_seen FROM portal_dhcp_devices")
    seen = [dict(row) for row in rows]
    reports = await core.db.fetchall(
        "SELECT mac, battery FROM portal_cart_reports WHERE reported_at > ?",
        (now - REPORT_FRESH_SECONDS,),
    )
    batteries = {row["mac"]: int(row["battery"]) for row in reports}
    lease = config.lease_minutes * 60.0
    return [_of_cart(cart, seen, batteries, lease, now) for cart in carts]


async def _is_cart_device(core: Core, mac: str) -> bool:
    carts = core.config.section(PortalConfig).carts
    if any(mac in cart.macs for cart in carts):
        return True
    prefixes = [cart.hostname_prefix.casefold() for cart in carts if cart.hostname_prefix]
    if not prefixes:
        return False
    row = await core.db.fetchone("SELECT hostname FROM portal_dhcp_devices WHERE mac = ?", (mac,))
    return row is not None and str(row["hostname"]).casefold().startswith(tuple(prefixes))


async def record_battery(core: Core, mac: str, battery: int) -> None:
    """Keep an MDM's report of a cart device's battery (per cent); refuse any other device."""
    mac = mac.strip().lower().replace("-", ":")
    if not MAC_ADDRESS.match(mac):
        raise CartReportError(N_("« %(mac)s » n'est pas une adresse MAC"), mac=mac)
    if not 0 <= battery <= 100:
        raise CartReportError(N_("battery : entre 0 et 100"))
    if not await _is_cart_device(core, mac):
        raise CartReportError(N_("%(mac)s n'est l'appareil d'aucun chariot"), mac=mac)
    async with core.db.write() as tx:
        await tx.execute(
            "INSERT INTO portal_cart_reports (mac, battery, reported_at) VALUES (?, ?, ?)"
            " ON CONFLICT (mac) DO UPDATE SET battery = excluded.battery,"
            " reported_at = excluded.reported_at",
            (mac, battery, time.time()),
        )


def cart_label(name: str) -> str:
    """Return a cart's name as a report label: « Chariot 1 (CDI) » → ``chariot-1-cdi``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:48] or "chariot"


async def cart_figures(core: Core, now: float) -> list[tuple[str, str, float]]:
    """Return each cart's devices and how many are on the network (site report, #14)."""
    config = core.config.section(PortalConfig)
    if not config.carts:
        return []
    rows = await core.db.fetchall("SELECT mac, hostname, last_seen FROM portal_dhcp_devices")
    seen = [dict(row) for row in rows]
    lease = config.lease_minutes * 60.0
    figures: list[tuple[str, str, float]] = []
    for cart in config.carts:
        view = _of_cart(cart, seen, {}, lease, now)
        label = f'cart="{cart_label(cart.name)}"'
        figures.append(("preau_cart_devices", label, float(len(view.devices))))
        figures.append(("preau_cart_devices_online", label, float(view.online)))
    return figures

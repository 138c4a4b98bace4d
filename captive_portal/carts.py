"""The portal's public answer to "what of a class's cart is on the network?" (#9.7).

Issue #13 scope 5: the teacher's page shows, besides the class's pupils on
the Wi-Fi, the devices of the carts assigned to the class
(``portal.carts``), online or not, from what the network knows: the DHCP
inventory the portal keeps (a device holding a lease is on; when it was
last heard of). Never what a device does (#9.18). The filter's teacher page
asks :func:`carts_of_class`; it never reads the portal's tables itself.
Batteries are not known here: that needs the MDM's report, which no
connector brings yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from captive_portal.config import CartConfig, PortalConfig

if TYPE_CHECKING:
    from appliance.core import Core


@dataclass(frozen=True, slots=True)
class CartDevice:
    """One device of a cart: its name on the network, and whether it holds a lease now."""

    name: str
    online: bool
    last_seen: float | None  # None: never seen by DHCP


@dataclass(frozen=True, slots=True)
class CartView:
    """A cart assigned to the class, with its devices in name order."""

    name: str
    devices: tuple[CartDevice, ...]

    @property
    def online(self) -> int:
        """Return how many of its devices are on the network now."""
        return sum(1 for device in self.devices if device.online)


def _of_cart(cart: CartConfig, seen: list[dict[str, object]], lease: float, now: float) -> CartView:
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
        if found is None:
            devices.append(CartDevice(f"n° {number}", online=False, last_seen=None))
            continue
        last = float(str(found["last_seen"]))
        name = str(found["hostname"]) or f"n° {number}"
        devices.append(CartDevice(name, last + lease > now, last))
    return CartView(cart.name, tuple(sorted(devices, key=lambda d: d.name)))


async def carts_of_class(core: Core, class_name: str, now: float) -> list[CartView]:
    """Return the carts assigned to ``class_name`` with their devices' state."""
    config = core.config.section(PortalConfig)
    carts = [cart for cart in config.carts if class_name in cart.classes]
    if not carts:
        return []
    rows = await core.db.fetchall("SELECT mac, hostname, last_seen FROM portal_dhcp_devices")
    seen = [dict(row) for row in rows]
    return [_of_cart(cart, seen, config.lease_minutes * 60.0, now) for cart in carts]

"""Who is on which address: the portal publishes it, the DNS filter reads it.

This is the one declared interface between the two features. The captive
portal writes a row of ``network_clients`` per authorised address (person,
role, class, level, expiry) and notifies :data:`CLIENTS_TOPIC` in the same
transaction; the filter re-reads :func:`network_identities` on that topic to
choose each address's policy. Neither imports the other.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from appliance.core import Core

CLIENTS_TOPIC: Final = "clients"


async def class_presence(
    core: Core, class_name: str, now: float | None = None
) -> dict[str, dict[str, float]]:
    """Return, for each pupil of ``class_name`` logged in, their devices and since when.

    What the network knows, nothing more (CARMO #9.7, #9.18): a count of
    devices and the earliest time one came on; no address, no activity.
    """
    now = time.time() if now is None else now
    rows = await core.db.fetchall(
        "SELECT person_id, COUNT(*) AS devices, MIN(since) AS since FROM network_clients"
        " WHERE class_name = ? AND role = 'pupil' AND expires_at > ? GROUP BY person_id",
        (class_name, now),
    )
    return {
        row["person_id"]: {"devices": float(row["devices"]), "since": float(row["since"])}
        for row in rows
    }


async def network_identities(core: Core, now: float | None = None) -> list[dict[str, str]]:
    """Return who is logged in on which address (filled by the captive portal)."""
    now = time.time() if now is None else now
    rows = await core.db.fetchall(
        "SELECT address, person_id, role, class_name, level FROM network_clients"
        " WHERE expires_at > ?",
        (now,),
    )
    return [dict(row) for row in rows]

"""The portal's part of the referent's dashboard: who is online, by role (#16).

Counts only: people and devices by local day from the usage the portal
already keeps (``portal_usage``, purged with it), and the devices online now
from the sessions. Who has no account of the directory came with a guest
code. Alert: accounts past the daily volume today.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from appliance.dashboard import Alert, Figure, Window
from appliance.i18n import N_

if TYPE_CHECKING:
    from appliance.core import Core

# Roles as the tile names them, in this order; anyone else came with a guest code.
ROLE_PARTS: Final = (
    ("pupil", N_("élèves")),
    ("teacher", N_("enseignants")),
    ("staff", N_("personnels")),
    ("referent", N_("référents")),
    ("guest", N_("invités")),
)


async def portal_figures(core: Core, window: Window) -> list[Figure]:
    """Return the people and devices online each day, today's split by role."""
    # The key (day, user, mac) is in that order: one row a device a person a day,
    # and the people of a day are its distinct (day, user), read off the key.
    rows = await core.db.fetchall(
        "SELECT day, COUNT(*) AS people, SUM(devices) AS devices FROM"
        " (SELECT day, user, COUNT(*) AS devices FROM portal_usage WHERE day >= ?"
        " GROUP BY day, user) GROUP BY day",
        (window.first.isoformat(),),
    )
    people = {str(r["day"]): float(r["people"]) for r in rows}
    devices = {str(r["day"]): float(r["devices"]) for r in rows}
    today = window.today.isoformat()
    roles = await core.db.fetchall(
        "SELECT COALESCE(p.role, 'guest') AS role, COUNT(DISTINCT u.user) AS n"
        " FROM portal_usage u LEFT JOIN people p ON p.id = u.user WHERE u.day = ?"
        " GROUP BY COALESCE(p.role, 'guest')",
        (today,),
    )
    by_role = {str(r["role"]): float(r["n"]) for r in roles}
    now = await core.db.fetchone("SELECT COUNT(*) FROM portal_devices")
    return [
        Figure(
            key="portal.people",
            label=N_("Personnes connectées au réseau"),
            link="/portal",
            today=people.get(today, 0.0),
            days=people,
            parts=[(label, by_role[role]) for role, label in ROLE_PARTS if by_role.get(role)],
            caption=N_("personnes connectées par jour"),
        ),
        Figure(
            key="portal.devices",
            label=N_("Appareils connectés"),
            link="/portal",
            today=devices.get(today, 0.0),
            days=devices,
            parts=[(N_("en ce moment"), float(now[0]) if now else 0.0)],
            caption=N_("appareils par jour"),
        ),
    ]


async def portal_alerts(core: Core, now: float) -> list[Alert]:
    """Return the accounts past the daily volume today, as one count."""
    from captive_portal.state import local_day

    row = await core.db.fetchone(
        "SELECT COUNT(DISTINCT user) FROM portal_alerts WHERE day = ?", (local_day(core, now),)
    )
    if not row or not row[0]:
        return []
    return [
        Alert(
            "warning",
            N_("Comptes ayant dépassé le volume quotidien aujourd'hui : %(count)s."),
            "/portal",
            {"count": int(row[0])},
        )
    ]

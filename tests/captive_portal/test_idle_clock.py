"""A quiet device keeps its real idle time across a reload, on a clock the test controls.

Issue #11: sessions reloaded from the state DB (at every restart, and after
every admin action such as "Prolonger d'une heure") took each device's last
activity from its attach time, so a device logged in for longer than the
idle limit was cut at the next sweep. Here the portal's own persistence
(``_record_sweep``, ``_load_sessions``) runs on a real state DB, and the pure
``sweep`` decides at instants the test chooses: no wall-clock bound.
"""

from __future__ import annotations

import time

from appliance.core import Core
from captive_portal.service import PortalService
from captive_portal.sessions import RolePolicy, sweep

MAC, IP = "da:a1:19:00:00:07", "10.77.0.107"
IDLE = 1800.0
PUPIL = RolePolicy(hard_seconds=8 * 3600, idle_seconds=IDLE, max_devices=2)


async def test_a_reload_keeps_each_devices_last_activity(core: Core) -> None:
    portal = PortalService(core)
    portal.classes = {}
    attached = time.time()  # the DB keeps sessions that end in the future
    async with core.db.write() as tx:
        await tx.execute(
            "INSERT INTO portal_sessions (user, role, started_at, ends_at, class_name, level)"
            " VALUES ('actif', 'pupil', ?, ?, '6A', '6EME')",
            (attached, attached + 8 * 3600),
        )
        await tx.execute(
            "INSERT INTO portal_devices (mac, ip, user, attached_at, last_active, randomised)"
            " VALUES (?, ?, 'actif', ?, ?, 1)",
            (MAC, IP, attached, attached),
        )
    await portal._load_sessions()
    # Busy for an hour: the sweep at that instant sees its bytes and records them.
    busy = attached + 3600
    updated, gate = sweep(portal.sessions["actif"], busy, PUPIL, {MAC: (50_000, False)})
    assert updated is not None
    assert gate.close == ()
    portal.sessions["actif"] = updated
    await portal._record_sweep("2026-12-01", [("2026-12-01", "actif", MAC, 20_000, 30_000)], [], [])
    # A restart or a referent's extend: the sessions come back from the DB.
    await portal._load_sessions()
    (device,) = portal.sessions["actif"].devices
    assert device.last_active == busy
    # Quiet from then on: kept until its real idle time has run out, then cut.
    kept, gate = sweep(portal.sessions["actif"], busy + IDLE - 1, PUPIL, {})
    assert kept is not None
    assert gate.close == ()
    _, gate = sweep(portal.sessions["actif"], busy + IDLE, PUPIL, {})
    assert gate.close == ((MAC, IP),)

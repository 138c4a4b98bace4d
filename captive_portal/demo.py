"""The portal's invented history: who was online each day, on how many devices (#16 scope 3).

Four pupils in five come on a school day, a teacher almost always; one
person in four has a second device. The devices' addresses are invented,
locally administered (``02:…``), never a real maker's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.demo_history import HistoryPlan


async def portal_history(core: Core, plan: HistoryPlan) -> int:
    """Write each day's usage of the people online; return the rows written."""
    rows = []
    for day in plan.days:
        busy = plan.busy(day)
        for index, (login, role) in enumerate(plan.people):
            chance = (0.95 if role != "pupil" else 0.8) * busy
            if plan.rng.random() >= chance:
                continue
            devices = 2 if plan.rng.random() < 0.25 else 1
            for device in range(devices):
                octets = (2, 0, index >> 16 & 255, index >> 8 & 255, index & 255, device)
                mac = ":".join(f"{octet:02x}" for octet in octets)
                used = int(plan.rng.uniform(5e6, 80e6) * busy)
                rows.append((day.isoformat(), login, mac, used // 10, used))
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT OR REPLACE INTO portal_usage (day, user, mac, up_bytes, down_bytes)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)

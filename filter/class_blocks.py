"""The filter's public answer to "which classes are under a 'block all' now?".

A teacher's *block all* for a class (#9.2) stops name resolution for it; the
captive portal can also cut the class's forwarding (``portal.block_all_cuts_
forwarding``). This module is the declared interface between the two: the
portal subscribes to :data:`OVERRIDES_TOPIC` (and the kernel's
``SUBGROUPS_TOPIC``) and asks :func:`blocked_classes` and, for a class's
virtual groups, :func:`blocked_people`; it never reads the filter's tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from appliance.identity import subgroups

if TYPE_CHECKING:
    from appliance.core import Core

OVERRIDES_TOPIC: Final = "filter.overrides"


async def blocked_people(core: Core, now: float) -> dict[str, float]:
    """Return each pupil of a class's group under a 'block all' at ``now``, with its end."""
    rows = await core.db.fetchall(
        "SELECT o.target, MAX(o.expires_at) AS until FROM filter_overrides o"
        " WHERE o.target_kind = 'subgroup' AND o.action = 'block_all'"
        " AND o.ended_at IS NULL AND o.expires_at > ? GROUP BY o.target",
        (now,),
    )
    until = {int(row["target"]): float(row["until"]) for row in rows if row["target"].isdigit()}
    found: dict[str, float] = {}
    for group_id, people in (await subgroups.members(core, until)).items():
        for person in people:
            found[person] = max(found.get(person, 0.0), until[group_id])
    return found


async def blocked_classes(core: Core, now: float) -> dict[str, float]:
    """Return each class under a 'block all' at ``now``, with when the last one ends."""
    rows = await core.db.fetchall(
        "SELECT o.target, MAX(o.expires_at) AS until FROM filter_overrides o"
        " WHERE o.target_kind = 'class' AND o.action = 'block_all'"
        " AND o.ended_at IS NULL AND o.expires_at > ? GROUP BY o.target",
        (now,),
    )
    return {row["target"]: row["until"] for row in rows}

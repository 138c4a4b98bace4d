"""The créneau a running appliance is in: its calendar (config, holidays file,
closed days in the state DB) and its grid of créneaux (config), asked for
"when does a control set now end" (issue #13). The rule itself is pure, in
:mod:`appliance.scheduler.periods`; this module only gathers its inputs.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from appliance.scheduler.jobs import load_calendar
from appliance.scheduler.periods import Lesson, grid_from_config

if TYPE_CHECKING:
    from appliance.core import Core


async def control_end(core: Core, now: dt.datetime) -> tuple[dt.datetime, Lesson | None]:
    """Return when a teacher's control set at ``now`` ends, and the créneau it ends with."""
    scheduler = core.config.scheduler
    fallback = dt.timedelta(minutes=scheduler.restriction_fallback_minutes)
    grid = grid_from_config(scheduler)
    return grid.restriction_end(await load_calendar(core), now, fallback)


async def next_control_end(
    core: Core, current_end: dt.datetime
) -> tuple[dt.datetime, Lesson | None]:
    """Return the end of the créneau after ``current_end`` ("prolonger d'un créneau")."""
    scheduler = core.config.scheduler
    fallback = dt.timedelta(minutes=scheduler.restriction_fallback_minutes)
    grid = grid_from_config(scheduler)
    return grid.extended(await load_calendar(core), current_end, fallback)

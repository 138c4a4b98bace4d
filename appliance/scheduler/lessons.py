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
from appliance.scheduler.timetable_state import lesson_now

if TYPE_CHECKING:
    from appliance.core import Core


async def control_end(
    core: Core, now: dt.datetime, *, teacher: str = "", class_name: str = ""
) -> tuple[dt.datetime, Lesson | None]:
    """Return when a teacher's control set at ``now`` ends, and the créneau it ends with.

    When the teacher's timetable has them with that class now, the control
    ends with that lesson (it may run over two créneaux); else with the grid.
    """
    scheduler = core.config.scheduler
    fallback = dt.timedelta(minutes=scheduler.restriction_fallback_minutes)
    grid = grid_from_config(scheduler)
    calendar = await load_calendar(core)
    end, lesson = grid.restriction_end(calendar, now, fallback)
    if teacher:
        taught = await lesson_now(core, teacher, now)
        if taught is not None and taught.class_name == class_name:
            name = lesson.name if lesson is not None and lesson.end == taught.end else ""
            return taught.end, Lesson(name, taught.start, taught.end)
    return end, lesson


async def next_control_end(
    core: Core, current_end: dt.datetime
) -> tuple[dt.datetime, Lesson | None]:
    """Return the end of the créneau after ``current_end`` ("prolonger d'un créneau")."""
    scheduler = core.config.scheduler
    fallback = dt.timedelta(minutes=scheduler.restriction_fallback_minutes)
    grid = grid_from_config(scheduler)
    return grid.extended(await load_calendar(core), current_end, fallback)

"""Assignments of a class or of one of its groups: opened, found, listed for whom (#9.17).

The one place the ``assignments`` table is written and read for access: the
API and the "Ma classe" page open assignments through :func:`open_assignment`
(a group must be the class's), find one through :func:`assignment`, and list
a class's through :func:`of_class`, which leaves out, for a pupil, the
assignments of groups they are not in (issue #13 scope 6).
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, TypedDict

from appliance.i18n import N_
from appliance.identity import subgroups
from storage.personnel import SpaceError

if TYPE_CHECKING:
    from appliance.core import Core
    from storage.classes import Person


class AssignmentSeen(TypedDict):
    """An assignment as the API and the page show it."""

    id: int
    title: str
    created_by: str
    due_at: float | None
    group: str
    group_id: int | None


async def group_of_class(core: Core, class_name: str, group_id: int | None) -> str:
    """Return the group's name, "" for the whole class; refuse a group of another class."""
    if group_id is None:
        return ""
    group = await subgroups.subgroup(core, group_id)
    if group is None or group.class_name != class_name:
        raise SpaceError(N_("Ce groupe n'existe pas dans cette classe."))
    return group.name


async def open_assignment(
    core: Core,
    class_name: str,
    title: str,
    *,
    actor: str,
    due_at: float | None,
    group_id: int | None = None,
) -> int:
    """Open an assignment (access already checked); return its id."""
    await group_of_class(core, class_name, group_id)
    async with core.db.write() as tx:
        return await tx.insert(
            "INSERT INTO assignments (class_name, title, created_by, created_at, due_at,"
            " subgroup_id) VALUES (?, ?, ?, ?, ?, ?)",
            (class_name, title, actor, time.time(), due_at, group_id),
        )


async def assignment(core: Core, assignment_id: str | int, class_name: str) -> sqlite3.Row | None:
    """Return one of the class's assignments, or None."""
    return await core.db.fetchone(
        "SELECT id, class_name, title, created_by, due_at, subgroup_id FROM assignments"
        " WHERE id = ? AND class_name = ?",
        (assignment_id, class_name),
    )


async def members_of(core: Core, row: sqlite3.Row) -> frozenset[str] | None:
    """Return who must hand the assignment in: its group's pupils (None: the class)."""
    group_id = row["subgroup_id"]
    if group_id is None:
        return None
    return (await subgroups.members(core, [group_id]))[group_id]


async def of_class(core: Core, class_name: str, person: Person) -> list[AssignmentSeen]:
    """Return the class's assignments, newest first, with their group's name.

    A pupil gets the class's and those of their own groups only.
    """
    rows = await core.db.fetchall(
        "SELECT a.id, a.title, a.created_by, a.due_at, a.subgroup_id, g.name AS group_name"
        " FROM assignments a LEFT JOIN class_subgroups g ON g.id = a.subgroup_id"
        " WHERE a.class_name = ? ORDER BY a.id DESC",
        (class_name,),
    )
    staff = person.role in ("teacher", "referent")
    return [
        AssignmentSeen(
            id=row["id"],
            title=row["title"],
            created_by=row["created_by"],
            due_at=row["due_at"],
            group=row["group_name"] or "",
            group_id=row["subgroup_id"],
        )
        for row in rows
        if staff or row["subgroup_id"] is None or row["subgroup_id"] in person.groups
    ]

"""Virtual groups inside a class (issue #13 scope 6, CARMO #9.9).

A teacher splits a class for a lesson: "Groupe A" works on the computers
while "Groupe B" reads, "Tiers-temps" gets longer, "Îlot 3" hands in
together. A group belongs to one class and holds pupils of that class; any
teacher of the class (and the referent) sees, makes, changes and deletes
the class's groups, since a class's groups are shared by its team.

Every class-scoped feature can target a group instead of the whole class:
the filter's controls (and the portal's gate through
:func:`filter.class_blocks.blocked_people`), the class's hand-outs and
assignments. They ask :func:`members` here, never the tables. A pupil who
leaves the class or the school is no longer a member, whatever the table
says: membership is read through the pupil's current class. Changes are
published on :data:`SUBGROUPS_TOPIC`, so the filter re-resolves its targets.
"""

from __future__ import annotations

import sqlite3
import time
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from appliance.i18n import N_
from appliance.problems import UserError

if TYPE_CHECKING:
    from appliance.core import Core

SUBGROUPS_TOPIC: Final = "teaching.subgroups"
MAX_NAME: Final = 40
MAX_PER_CLASS: Final = 40


class SubgroupError(UserError):
    """A group that cannot be made as asked (the message says why)."""


@dataclass(frozen=True, slots=True)
class Subgroup:
    """A group of pupils inside a class."""

    id: int
    class_name: str
    name: str
    members: tuple[str, ...]  # person ids, in the class's order
    created_by: str


def check_name(name: str) -> str:
    """Return a group's name, trimmed, or refuse it (the one check of a group's name)."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise SubgroupError(N_("Donnez un nom au groupe."))
    if len(cleaned) > MAX_NAME:
        raise SubgroupError(N_("Un nom de groupe a au plus %(count)s caractères."), count=MAX_NAME)
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in cleaned):
        raise SubgroupError(N_("Un nom de groupe ne contient pas de caractère de contrôle."))
    return cleaned


_MEMBERS: Final = (
    "SELECT m.subgroup_id, p.id FROM class_subgroup_members m"
    " JOIN class_subgroups g ON g.id = m.subgroup_id"
    " JOIN people p ON p.id = m.person_id AND p.class_name = g.class_name"
    " AND p.role = 'pupil' AND p.departed_at IS NULL"
)


async def _with_members(core: Core, rows: Iterable[sqlite3.Row]) -> list[Subgroup]:
    found = list(rows)
    if not found:
        return []
    ids = [row["id"] for row in found]
    marks = ",".join("?" * len(ids))
    members: dict[int, list[str]] = {}
    for row in await core.db.fetchall(
        f"{_MEMBERS} WHERE m.subgroup_id IN ({marks})"
        " ORDER BY p.surname, p.given_name, p.display_name",
        ids,
    ):
        members.setdefault(row["subgroup_id"], []).append(row["id"])
    return [
        Subgroup(
            row["id"],
            row["class_name"],
            row["name"],
            tuple(members.get(row["id"], [])),
            row["created_by"],
        )
        for row in found
    ]


async def of_class(core: Core, class_name: str) -> list[Subgroup]:
    """Return a class's groups, by name."""
    rows = await core.db.fetchall(
        "SELECT id, class_name, name, created_by FROM class_subgroups WHERE class_name = ?"
        " ORDER BY name COLLATE NOCASE",
        (class_name,),
    )
    return await _with_members(core, rows)


async def subgroup(core: Core, subgroup_id: int) -> Subgroup | None:
    """Return one group, or None."""
    row = await core.db.fetchone(
        "SELECT id, class_name, name, created_by FROM class_subgroups WHERE id = ?",
        (subgroup_id,),
    )
    found = await _with_members(core, [row] if row is not None else [])
    return found[0] if found else None


async def members(core: Core, subgroup_ids: Collection[int]) -> dict[int, frozenset[str]]:
    """Return each group's pupils now (those still in its class and the school)."""
    if not subgroup_ids:
        return {}
    ids = sorted(subgroup_ids)
    found: dict[int, set[str]] = {group_id: set() for group_id in ids}
    rows = await core.db.fetchall(
        f"{_MEMBERS} WHERE m.subgroup_id IN ({','.join('?' * len(ids))})", ids
    )
    for row in rows:
        found[row["subgroup_id"]].add(row["id"])
    return {group_id: frozenset(people) for group_id, people in found.items()}


async def groups_of_pupil(core: Core, person_id: str) -> list[Subgroup]:
    """Return the groups a pupil is in (what they see of hand-outs and assignments)."""
    rows = await core.db.fetchall(
        "SELECT g.id, g.class_name, g.name, g.created_by FROM class_subgroups g"
        " JOIN class_subgroup_members m ON m.subgroup_id = g.id"
        " JOIN people p ON p.id = m.person_id AND p.class_name = g.class_name"
        " WHERE m.person_id = ? AND p.departed_at IS NULL ORDER BY g.name",
        (person_id,),
    )
    return await _with_members(core, rows)


async def _check_members(core: Core, class_name: str, wanted: Iterable[str]) -> list[str]:
    chosen = sorted(set(wanted))
    if not chosen:
        raise SubgroupError(N_("Choisissez au moins un élève."))
    marks = ",".join("?" * len(chosen))  # placeholders only: the ids are parameters
    rows = await core.db.fetchall(
        f"SELECT id FROM people WHERE id IN ({marks}) AND role = 'pupil' AND class_name = ?"  # noqa: S608
        " AND departed_at IS NULL",
        [*chosen, class_name],
    )
    outside = sorted(set(chosen) - {row["id"] for row in rows})
    if outside:
        raise SubgroupError(
            N_("Pas élève de la classe « %(class_name)s » : %(people)s."),
            class_name=class_name,
            people=", ".join(outside[:5]),
        )
    return chosen


async def save(
    core: Core,
    class_name: str,
    name: str,
    pupils: Iterable[str],
    *,
    actor: str,
    subgroup_id: int | None = None,
) -> Subgroup:
    """Make a group (or replace one's name and pupils) after checking both; published."""
    cleaned = check_name(name)
    chosen = await _check_members(core, class_name, pupils)
    async with core.db.write() as tx:
        clash = await tx.fetchone(
            "SELECT id FROM class_subgroups WHERE class_name = ? AND name = ? COLLATE NOCASE",
            (class_name, cleaned),
        )
        if clash is not None and clash["id"] != subgroup_id:
            raise SubgroupError(N_("La classe a déjà un groupe « %(name)s »."), name=cleaned)
        if subgroup_id is None:
            count = await tx.fetchone(
                "SELECT COUNT(*) AS n FROM class_subgroups WHERE class_name = ?", (class_name,)
            )
            if count is not None and count["n"] >= MAX_PER_CLASS:
                raise SubgroupError(
                    N_("Une classe a au plus %(count)s groupes."), count=MAX_PER_CLASS
                )
            subgroup_id = await tx.insert(
                "INSERT INTO class_subgroups (class_name, name, created_by, created_at)"
                " VALUES (?, ?, ?, ?)",
                (class_name, cleaned, actor, time.time()),
            )
        else:
            changed = await tx.execute(
                "UPDATE class_subgroups SET name = ? WHERE id = ? AND class_name = ?",
                (cleaned, subgroup_id, class_name),
            )
            if not changed:
                raise SubgroupError(N_("Ce groupe n'existe plus."))
            await tx.execute(
                "DELETE FROM class_subgroup_members WHERE subgroup_id = ?", (subgroup_id,)
            )
        await tx.executemany(
            "INSERT INTO class_subgroup_members (subgroup_id, person_id) VALUES (?, ?)",
            [(subgroup_id, person) for person in chosen],
        )
        await tx.notify(SUBGROUPS_TOPIC)
    saved = await subgroup(core, subgroup_id)
    if saved is None:  # deleted by someone else since the write above
        raise SubgroupError(N_("Ce groupe n'existe plus."))
    return saved


async def delete(core: Core, subgroup_id: int) -> bool:
    """Delete a group; return whether there was one. Its controls end with it."""
    async with core.db.write() as tx:
        deleted = await tx.execute("DELETE FROM class_subgroups WHERE id = ?", (subgroup_id,))
        await tx.notify(SUBGROUPS_TOPIC)
    return bool(deleted)

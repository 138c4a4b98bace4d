"""Writing people, their class and their teaching links: the directory's and the imports'.

The LDAP sync (:mod:`appliance.identity.directory`), local accounts and the
national files' import (:mod:`appliance.identity.file_import`) write people
the same way through these, inside their own transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.audit import utc_now_iso

if TYPE_CHECKING:
    from appliance.identity.model import Person
    from appliance.state.db import Transaction


async def replace_teaching(tx: Transaction, people: list[Person], *, source: str) -> None:
    """Replace ``source``'s teacher↔class links by those ``people`` carry.

    A class is written as the school already names it ("profs-6a" teaches
    "6A"), so one class is never two.
    """
    rows = await tx.fetchall("SELECT school_uai, name FROM groups WHERE kind = 'class'")
    known = {(row["school_uai"], row["name"].casefold()): row["name"] for row in rows}
    await tx.execute("DELETE FROM teaching WHERE source = ?", (source,))
    await tx.executemany(
        "INSERT OR IGNORE INTO teaching (person_id, school_uai, class_name, source)"
        " VALUES (?, ?, ?, ?)",
        [
            (
                person.id,
                person.school_uai,
                known.get((person.school_uai, name.casefold()), name),
                source,
            )
            for person in people
            for name in person.teaches
        ],
    )


async def upsert_person(tx: Transaction, person: Person) -> None:
    """Write a person (a departed one who is back is no longer departed)."""
    await tx.execute(
        "INSERT INTO people (id, source, display_name, given_name, surname, role, school_uai,"
        " class_name, level, departed_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)"
        " ON CONFLICT (id) DO UPDATE SET source = excluded.source,"
        " display_name = excluded.display_name, given_name = excluded.given_name,"
        " surname = excluded.surname, role = excluded.role, school_uai = excluded.school_uai,"
        " class_name = excluded.class_name, level = excluded.level, departed_at = NULL,"
        " updated_at = excluded.updated_at",
        (
            person.id,
            person.source,
            person.display_name,
            person.given_name,
            person.surname,
            person.role,
            person.school_uai,
            person.class_name,
            person.level,
            utc_now_iso(),
        ),
    )


async def ensure_class(tx: Transaction, person: Person, *, source: str) -> None:
    """Make sure the person's class exists and that the person is in it, and only it."""
    class_id = f"class:{person.school_uai}:{person.class_name}"
    await tx.execute(
        "INSERT OR IGNORE INTO groups (id, name, kind, school_uai, source)"
        " VALUES (?, ?, 'class', ?, ?)",
        (class_id, person.class_name, person.school_uai, source),
    )
    await tx.execute(
        "DELETE FROM memberships WHERE person_id = ? AND group_id IN"
        " (SELECT id FROM groups WHERE kind = 'class' AND id != ?)",
        (person.id, class_id),
    )
    await tx.execute(
        "INSERT OR IGNORE INTO memberships (group_id, person_id) VALUES (?, ?)",
        (class_id, person.id),
    )

"""The national files become local accounts: previewed, then committed (issue #13 scope 1).

:mod:`appliance.identity.aaf` reads the file; this module compares it with
what the box has and stores it. A person the file lists becomes (or stays)
a local account: new ones get a first password, to hand out on paper;
those already imported are updated (name, class, level, role), and come
back if they had left. An account the referent made by hand, or one from
the LDAP directory, is never overwritten: it is reported. Those imported
before from the same kind of file and no longer in it are marked departed
(their PERSONNEL stays, as for the LDAP sync), unless the file lists nobody.
The teachers' classes are the ``aaf`` source of the teaching links.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from appliance.audit import utc_now_iso
from appliance.i18n import N_
from appliance.identity import passwords
from appliance.identity.aaf import ExportFileError, ImportedPerson
from appliance.identity.directory import DIRECTORY_TOPIC
from appliance.identity.model import Person
from appliance.identity.people_state import ensure_class, replace_teaching, upsert_person

if TYPE_CHECKING:
    from appliance.core import Core


@dataclass(slots=True)
class ImportPlan:
    """What an import changes, before (preview) and after (commit) it is stored."""

    new: list[ImportedPerson] = field(default_factory=list)
    changed: list[tuple[ImportedPerson, str]] = field(default_factory=list)  # and the old class
    returned: list[ImportedPerson] = field(default_factory=list)
    departed: list[str] = field(default_factory=list)
    kept_apart: list[str] = field(default_factory=list)  # accounts the file may not overwrite
    unchanged: int = 0
    first_passwords: dict[str, str] = field(default_factory=dict)  # filled by the commit


def _person(imported: ImportedPerson, school_uai: str) -> Person:
    name = f"{imported.given_name} {imported.surname}".strip()
    return Person(
        imported.login, "local", name, imported.role, school_uai, imported.given_name,
        imported.surname, imported.class_name, imported.level, teaches=imported.teaches,
    )  # fmt: skip


async def plan_import(core: Core, people: list[ImportedPerson], source: str) -> ImportPlan:
    """Compare the file with the box: who is new, changed, back, gone, or kept apart."""
    if not people:
        raise ExportFileError(N_("le fichier ne contient personne : rien n'est changé"))
    rows = await core.db.fetchall(
        "SELECT p.id, p.class_name, p.level, p.role, p.display_name, p.departed_at,"
        " i.source AS imported FROM people p LEFT JOIN imported_people i ON i.person_id = p.id"
    )
    known = {row["id"]: row for row in rows}
    plan = ImportPlan()
    listed = set()
    for person in people:
        listed.add(person.login)
        row = known.get(person.login)
        if row is None:
            plan.new.append(person)
        elif row["imported"] != source:
            plan.kept_apart.append(person.login)
        elif row["departed_at"] is not None:
            plan.returned.append(person)
        elif (row["class_name"], row["level"], row["role"]) != (
            person.class_name, person.level, person.role,
        ):  # fmt: skip
            plan.changed.append((person, row["class_name"]))
        else:
            plan.unchanged += 1
    plan.departed = sorted(
        row["id"]
        for row in rows
        if row["imported"] == source and row["departed_at"] is None and row["id"] not in listed
    )
    return plan


async def commit_import(
    core: Core, people: list[ImportedPerson], plan: ImportPlan, source: str
) -> ImportPlan:
    """Store the plan in one transaction; return it with the new accounts' first passwords."""
    school = core.directory.default_school
    first = {person.login: passwords.first_password() for person in plan.new}
    hashes = {login: await core.directory.hash_password(secret) for login, secret in first.items()}
    apart = set(plan.kept_apart)
    stored = [_person(person, school) for person in people if person.login not in apart]
    today = dt.datetime.now(core.config.site.zone).date().isoformat()
    async with core.db.write() as tx:
        for person in stored:
            await upsert_person(tx, person)
            if person.class_name:
                await ensure_class(tx, person, source="local")
            await tx.execute(
                "INSERT INTO imported_people (person_id, source, imported_at) VALUES (?, ?, ?)"
                " ON CONFLICT (person_id) DO UPDATE SET imported_at = excluded.imported_at",
                (person.id, source, time.time()),
            )
        await tx.executemany(
            "INSERT INTO local_accounts (person_id, password_hash, changed_at) VALUES (?, ?, ?)",
            [(login, hashed, utc_now_iso()) for login, hashed in hashes.items()],
        )
        for person_id in plan.departed:
            await tx.execute("UPDATE people SET departed_at = ? WHERE id = ?", (today, person_id))
            await tx.execute(
                "UPDATE sessions SET revoked_at = ? WHERE person_id = ? AND revoked_at IS NULL",
                (time.time(), person_id),
            )
        await replace_teaching(tx, [p for p in stored if p.teaches], source="aaf")
        await tx.notify(DIRECTORY_TOPIC)
    return dataclasses.replace(plan, first_passwords=first)

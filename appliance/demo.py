"""The demo school: two classes, teachers, pupils, a referent (local accounts).

Passwords are random and printed once (ANSSI PA-022 R34: no default
credentials); ``preau demo --reset-passwords`` prints new ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from appliance.identity.model import Person
from appliance.identity.passwords import first_password

if TYPE_CHECKING:
    from appliance.core import Core

DEMO_SEEDED_KEY: Final = "demo_seeded"
HISTORY_DAYS: Final = 30

DEMO_PUPILS_6A: Final = [
    ("Lina", "Bernard"),
    ("Hugo", "Petit"),
    ("Jade", "Robert"),
    ("Louis", "Richard"),
    ("Emma", "Durand"),
    ("Gabriel", "Dubois"),
    ("Chloé", "Moreau"),
    ("Raphaël", "Laurent"),
    ("Inès", "Simon"),
    ("Arthur", "Michel"),
]
DEMO_PUPILS_5B: Final = [
    ("Léa", "Lefebvre"),
    ("Jules", "Leroy"),
    ("Manon", "Roux"),
    ("Adam", "David"),
    ("Alice", "Bertrand"),
    ("Noah", "Morel"),
    ("Rose", "Fournier"),
    ("Léo", "Girard"),
    ("Anna", "Bonnet"),
    ("Tom", "Dupont"),
]


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A demo account and its password, to print once."""

    person: Person
    password: str


def demo_people(school_uai: str) -> list[Person]:
    """Return the people of the demo school."""
    people = [
        Person("referent", "local", "Camille Martin", "referent", school_uai, "Camille", "Martin"),
        Person(
            "prof.durand",
            "local",
            "Sophie Durand",
            "teacher",
            school_uai,
            "Sophie",
            "Durand",
            teaches=("6A", "5B"),
        ),
        Person(
            "prof.nguyen",
            "local",
            "Minh Nguyen",
            "teacher",
            school_uai,
            "Minh",
            "Nguyen",
            teaches=("6A",),
        ),
        Person(
            "prof.benali",
            "local",
            "Karim Benali",
            "teacher",
            school_uai,
            "Karim",
            "Benali",
            teaches=("5B",),
        ),
        Person("vie.scolaire", "local", "Nadia Faure", "staff", school_uai, "Nadia", "Faure"),
    ]
    for class_name, level, names in (
        ("6A", "6EME", DEMO_PUPILS_6A),
        ("5B", "5EME", DEMO_PUPILS_5B),
    ):
        for given, surname in names:
            login = f"{given[0].lower()}.{surname.lower()}".replace("é", "e").replace("ë", "e")
            people.append(
                Person(
                    login,
                    "local",
                    f"{given} {surname[0]}.",
                    "pupil",
                    school_uai,
                    given,
                    surname,
                    class_name,
                    level,
                )
            )
    return people


async def seed_demo(
    core: Core, *, reset_passwords: bool, progress: Callable[[int], None] | None = None
) -> list[DemoAccount] | None:
    """Create the demo school; return the new passwords, or None if already seeded."""
    seeded = await core.db.fetchone("SELECT value FROM meta WHERE key = ?", (DEMO_SEEDED_KEY,))
    if seeded is not None and not reset_passwords:
        return None
    accounts = []
    for person in demo_people(core.config.site.schools[0].uai):
        password = first_password()
        await core.directory.add_local_person(person, password)
        accounts.append(DemoAccount(person, password))
        if progress is not None:
            progress(1)
    from appliance.audit import utc_now_iso

    if seeded is None:  # a month of invented use, so that the charts show something
        await seed_demo_timetable(core)
        await seed_demo_history(core, HISTORY_DAYS)
    await core.db.execute_write(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (DEMO_SEEDED_KEY, utc_now_iso())
    )
    return accounts


# The teachers' weeks (the weekly grid's CSV, as a referent imports it).
DEMO_TIMETABLE: Final = {
    "prof.durand": "jour;créneau;classe;salle\nlundi;08:00-08:55;6A;Salle 12\n"
    "lundi;10:05-11:00;5B;Salle 12\nmardi;09:00-09:55;6A;Salle 12\n"
    "jeudi;14:00-14:55;5B;Salle 12\nvendredi;08:00-08:55;6A;Salle 12\n",
    "prof.nguyen": "jour;créneau;classe;salle\nmercredi;08:00-08:55;6A;Labo\n"
    "jeudi;10:05-11:00;6A;Labo\n",
    "prof.benali": "jour;créneau;classe;salle\nmardi;13:30-14:25;5B;Salle 3\n"
    "vendredi;10:05-11:00;5B;Salle 3\n",
}


async def seed_demo_timetable(core: Core) -> int:
    """Give the demo's teachers their week of lessons; return how many were stored."""
    from appliance.imports import preview_timetable

    stored = 0
    for login, grid in DEMO_TIMETABLE.items():
        preview = await preview_timetable(core, login, grid.encode(), "grid", actor="demo")
        await preview.store()
        stored += len(await core.db.fetchall(
            "SELECT 1 FROM timetable WHERE person_id = ?", (login,)
        ))  # fmt: skip
    return stored


async def seed_demo_history(core: Core, days: int, now: float | None = None) -> dict[str, int]:
    """Invent ``days`` days of the demo school's use, today included; return rows by part."""
    import datetime as dt
    import time

    from appliance.demo_history import HistoryPlan, seed_history

    today = dt.datetime.fromtimestamp(time.time() if now is None else now, core.config.site.zone)
    people = tuple(
        (p.id, p.role) for p in demo_people(core.config.site.schools[0].uai) if p.role != "referent"
    )
    return await seed_history(core, HistoryPlan.ending(today.date(), days, people))

"""Class areas: Distribution (teachers to pupils) and Rendus (pupils to teachers).

Plain files under ``productions/classes``, scanned like every upload and
backed up with the pedagogical spaces. Access is decided here, on every
request (#8.11):

* Distribution of a class: teachers and the referent write; pupils of the
  class read (#9.1);
* Rendus of an assignment: each pupil of the class writes and reads their
  own folder only, until the deadline (then reads only); teachers and the
  referent read every pupil's folder (#9.17).

A teacher does so in the classes they teach only (issue #13: from the
directory, the timetable export or the referent's edits); the referent in
every class.

A hand-out or an assignment may be for one virtual group of the class
(issue #13 scope 6, :mod:`appliance.identity.subgroups`): the group's
Distribution is its own folder (``Groupes/<id>``), which only the group's
pupils read; only the group's pupils hand in its assignments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from appliance.i18n import N_
from appliance.problems import UserPermissionError
from storage.pedagogical import PedagogicalSpace
from storage.personnel import SpaceError

_CLASS: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}$")
STAFF: Final = ("teacher", "referent")


class AccessDenied(UserPermissionError):
    """This person may not do that here (the reason says why)."""


@dataclass(frozen=True, slots=True)
class Person:
    """Who asks: account, role, class."""

    id: str
    role: str
    class_name: str
    # The classes a teacher teaches; a referent's are every class.
    classes: tuple[str, ...] = ()
    # The virtual groups a pupil is in (their ids).
    groups: tuple[int, ...] = ()


def check_teaches(person: Person, class_name: str) -> None:
    """Refuse a teacher acting on a class they do not teach (the referent acts on all)."""
    if person.role == "teacher" and class_name not in person.classes:
        raise AccessDenied(N_("Vous n'enseignez pas dans la classe « %(name)s »."), name=class_name)


# Where the teacher hands corrected work back, beside the pupils' folders: a
# dot-name, so it is neither a pupil's folder nor in the zip of work handed in.
CORRECTIONS: Final = ".corriges"


def pupils_who_handed_in(assignment_folder: Path) -> list[str]:
    """Return the pupils' folders of one assignment's Rendus (not the uploads in flight)."""
    if not assignment_folder.is_dir():
        return []
    return sorted(
        p.name for p in assignment_folder.iterdir() if p.is_dir() and not p.name.startswith(".")
    )


def check_class(name: str) -> str:
    """Return a class name that can name a folder, or refuse it."""
    if not _CLASS.match(name):
        raise SpaceError(N_("Ce n'est pas un nom de classe."))
    return name


def distribution(
    root: Path, class_name: str, person: Person, *, write: bool, group: int | None = None
) -> PedagogicalSpace:
    """Return the class's (or one of its groups') Distribution if ``person`` may use it.

    ``group`` must be a group of ``class_name`` (the caller checked it).
    """
    check_class(class_name)
    if person.role in STAFF:
        check_teaches(person, class_name)
    else:
        if write:
            raise AccessDenied(
                N_("Seuls les enseignants déposent des documents dans Distribution.")
            )
        if person.class_name != class_name:
            raise AccessDenied(N_("C'est la Distribution d'une autre classe."))
        if group is not None and group not in person.groups:
            raise AccessDenied(N_("C'est la Distribution d'un autre groupe."))
    if group is not None:
        return PedagogicalSpace(root / class_name / "Groupes", str(int(group)))
    return PedagogicalSpace(root / class_name, "Distribution")


def submission(
    root: Path,
    class_name: str,
    assignment_id: int,
    pupil: str,
    person: Person,
    *,
    write: bool,
    due_at: float | None,
    now: float,
    members: frozenset[str] | None = None,
) -> PedagogicalSpace:
    """Return one pupil's Rendus folder for an assignment, if ``person`` may use it.

    ``members``: the pupils of the group the assignment is for (None: the class).
    """
    check_class(class_name)
    if person.role in STAFF:
        check_teaches(person, class_name)
        if write:
            raise AccessDenied(
                N_("Les enseignants lisent les travaux rendus, ils ne les modifient pas.")
            )
    else:
        if person.class_name != class_name or person.id != pupil:
            raise AccessDenied(N_("C'est le travail d'un autre élève."))
        if members is not None and person.id not in members:
            raise AccessDenied(N_("Ce travail est demandé à un autre groupe."))
        if write and due_at is not None and now > due_at:
            raise AccessDenied(N_("La date limite est passée."))
    return PedagogicalSpace(root / class_name / "Rendus" / str(int(assignment_id)), pupil)


def correction(
    root: Path, class_name: str, assignment_id: int, pupil: str, person: Person, *, write: bool
) -> PedagogicalSpace:
    """Return the folder of work handed back to one pupil, if ``person`` may use it.

    A teacher of the class writes and reads it; the pupil reads their own (#9.17).
    """
    check_class(class_name)
    if person.role in STAFF:
        check_teaches(person, class_name)
    else:
        if write:
            raise AccessDenied(N_("Seuls les enseignants rendent un travail corrigé."))
        if person.class_name != class_name or person.id != pupil:
            raise AccessDenied(N_("C'est le travail d'un autre élève."))
    folder = root / class_name / "Rendus" / str(int(assignment_id)) / CORRECTIONS
    return PedagogicalSpace(folder, pupil)

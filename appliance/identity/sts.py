"""Who teaches which class, from STS-Web's "Emploi du temps" export (issue #13 scope 1).

Every French secondary school has it: STS-Web → Exports → Emploi du temps
gives ``STS_emp_<UAI>_<année>.xml``. Its root is ``STS_EDT``; under
``DONNEES``, ``INDIVIDUS`` lists the staff (an ``ID``, ``NOM_USAGE``,
``PRENOM``), and ``STRUCTURE`` the divisions (classes, ``DIVISION CODE="6A"``)
and the groups (``GROUPE``, with the divisions they draw from), each with its
services (a subject) and the teachers (``ENSEIGNANT ID=…``) who give it.

The export names people, not logins: a teacher is matched with the person of
the directory whose surname and first name are the same, accents, case,
hyphens and spaces aside. A name matching nobody, or several people, is
reported and linked to nothing. Pure: no I/O.

The file is read with the standard library's parser; a document type
declaration (the way to entity expansion attacks) is refused outright, as
STS never writes one.
"""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_BYTES = 50 * 1024 * 1024


class StsError(ValueError):
    """A file that cannot be read as an STS-Web timetable export."""


@dataclass(frozen=True, slots=True)
class StsTeacher:
    """A teacher as STS names them."""

    sts_id: str
    surname: str
    given_name: str


@dataclass(slots=True)
class StsLinks:
    """What the export says and how it matched the directory."""

    classes_of: dict[str, set[str]] = field(default_factory=dict)  # person id → classes
    unmatched: list[str] = field(default_factory=list)  # "NOM Prénom" found in nobody
    ambiguous: list[str] = field(default_factory=list)  # … found in several people
    divisions: set[str] = field(default_factory=set)


def _key(surname: str, given_name: str) -> str:
    text = unicodedata.normalize("NFKD", f"{surname} {given_name}")
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.casefold().replace("-", " ").split())


def _teacher_ids(node: ElementTree.Element) -> set[str]:
    return {
        teacher.get("ID", "")
        for teacher in node.iterfind("SERVICES/SERVICE/ENSEIGNANTS/ENSEIGNANT")
        if teacher.get("ID")
    }


def read_sts(data: bytes) -> tuple[dict[str, StsTeacher], dict[str, set[str]], set[str]]:
    """Return the export's teachers (by STS id), each one's classes, and every division."""
    if len(data) > MAX_BYTES:
        raise StsError("larger than 50 MB: not an STS-Web export")
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise StsError("a document type declaration: STS-Web never writes one")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as err:
        raise StsError(f"not XML: {err}") from err
    if root.tag.upper() != "STS_EDT":
        raise StsError(f"the root is <{root.tag}>, not <STS_EDT>: is it STS_emp_<UAI>_<année>.xml?")
    teachers = {
        node.get("ID", ""): StsTeacher(
            node.get("ID", ""),
            (node.findtext("NOM_USAGE") or "").strip(),
            (node.findtext("PRENOM") or "").strip(),
        )
        for node in root.iterfind("DONNEES/INDIVIDUS/INDIVIDU")
        if node.get("ID")
    }
    classes_of: dict[str, set[str]] = {}
    divisions: set[str] = set()
    for division in root.iterfind("DONNEES/STRUCTURE/DIVISIONS/DIVISION"):
        code = division.get("CODE", "").strip()
        if not code:
            continue
        divisions.add(code)
        for teacher_id in _teacher_ids(division):
            classes_of.setdefault(teacher_id, set()).add(code)
    for group in root.iterfind("DONNEES/STRUCTURE/GROUPES/GROUPE"):
        members = {
            node.get("CODE", "").strip()
            for node in group.iterfind("DIVISIONS_APPARTENANCE/DIVISION_APPARTENANCE")
        } - {""}
        for teacher_id in _teacher_ids(group):
            classes_of.setdefault(teacher_id, set()).update(members)
    return teachers, classes_of, divisions


def match_teachers(data: bytes, people: Iterable[tuple[str, str, str]]) -> StsLinks:
    """Return each directory person's classes per the export; ``people``: (id, surname, given)."""
    teachers, classes_of, divisions = read_sts(data)
    by_name: dict[str, list[str]] = {}
    for person_id, surname, given_name in people:
        by_name.setdefault(_key(surname, given_name), []).append(person_id)
    links = StsLinks(divisions=divisions)
    for teacher_id, classes in sorted(classes_of.items()):
        teacher = teachers.get(teacher_id)
        if teacher is None:
            continue
        shown = f"{teacher.surname} {teacher.given_name}".strip()
        found = by_name.get(_key(teacher.surname, teacher.given_name), [])
        if not found:
            links.unmatched.append(shown)
        elif len(found) > 1:
            links.ambiguous.append(shown)
        else:
            links.classes_of.setdefault(found[0], set()).update(classes)
    return links

"""Who teaches which class, from STS-Web's "Emploi du temps" export (issue #13 scope 1).

Every French secondary school has it: STS-Web → Exports → Emploi du temps
gives ``STS_emp_<UAI>_<année>.xml``. Its root is ``STS_EDT``; under
``DONNEES``, ``INDIVIDUS`` lists the staff (an ``ID``, ``NOM_USAGE``,
``PRENOM``), and ``STRUCTURE`` the divisions (classes, ``DIVISION CODE="6A"``)
and the groups (``GROUPE``, with the divisions they draw from), each with its
services (a subject) and the teachers (``ENSEIGNANT ID=…``) who give it.
Each teacher's weekly courses are under ``COURS_RATTACHES/COURS``: ``JOUR``
(1 is Monday), ``HEURE_DEBUT`` and ``DUREE`` as ``HHMM``, ``CODE_SALLE`` and
``CODE_ALTERNANCE``, whose weeks ``ALTERNANCES/ALTERNANCE/SEMAINES`` lists by
their Monday (``H``, every week, needs none). They become the timetable of
:mod:`appliance.scheduler.weekly`, the same lessons an iCalendar export or
the manual grid gives. A course of a group drawing on several classes names
no single class; it is left out and counted, like the ICS reader does.

The export names people, not logins: a teacher is matched with the person of
the directory whose surname and first name are the same, accents, case,
hyphens and spaces aside. A name matching nobody, or several people, is
reported and linked to nothing. Pure: no I/O.

The file is read with the standard library's parser; a document type
declaration (the way to entity expansion attacks) is refused outright, as
STS never writes one.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import dataclass, field

from appliance.i18n import N_, folded
from appliance.problems import UserError
from appliance.scheduler.weekly import WeeklyLesson

MAX_BYTES = 50 * 1024 * 1024


class StsError(UserError):
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
    weekly_of: dict[str, list[WeeklyLesson]] = field(default_factory=dict)  # person id → courses
    alternations: dict[str, frozenset[dt.date]] = field(default_factory=dict)
    left_out: int = 0


def _key(surname: str, given_name: str) -> str:
    return " ".join(folded(f"{surname} {given_name}").replace("-", " ").split())


def _teacher_ids(node: ElementTree.Element) -> set[str]:
    return {
        teacher.get("ID", "")
        for teacher in node.iterfind("SERVICES/SERVICE/ENSEIGNANTS/ENSEIGNANT")
        if teacher.get("ID")
    }


@dataclass(slots=True)
class StsExport:
    """What the export holds: its teachers, their classes, their weekly courses."""

    teachers: dict[str, StsTeacher] = field(default_factory=dict)  # by STS id
    classes_of: dict[str, set[str]] = field(default_factory=dict)  # STS id → classes
    divisions: set[str] = field(default_factory=set)
    weekly_of: dict[str, list[WeeklyLesson]] = field(default_factory=dict)  # STS id → courses
    alternations: dict[str, frozenset[dt.date]] = field(default_factory=dict)  # code → Mondays
    left_out: int = 0  # courses of a group drawing on several classes, or unreadable


def _hhmm(text: str | None) -> int | None:
    digits = "".join(c for c in (text or "") if c.isdigit())
    if len(digits) not in (3, 4):
        return None
    hours, minutes = int(digits[:-2]), int(digits[-2:])
    return hours * 60 + minutes if minutes < 60 else None


def _course(node: ElementTree.Element, class_name: str) -> WeeklyLesson | None:
    """Return one ``COURS`` (JOUR 1 is Monday, HEURE_DEBUT and DUREE as HHMM), or None."""
    day = (node.findtext("JOUR") or "").strip()
    start, length = _hhmm(node.findtext("HEURE_DEBUT")), _hhmm(node.findtext("DUREE"))
    if not day.isdigit() or not 1 <= int(day) <= 7 or start is None or not length:
        return None
    end = start + length
    if end >= 24 * 60:
        return None
    alternation = (node.findtext("CODE_ALTERNANCE") or "").strip()
    return WeeklyLesson(
        int(day) - 1,
        dt.time(start // 60, start % 60),
        dt.time(end // 60, end % 60),
        class_name,
        (node.findtext("CODE_SALLE") or "").strip()[:64],
        "" if alternation in ("", "H") else alternation,  # H: hebdomadaire
    )


def _monday(text: str) -> dt.date | None:
    text = text.strip()
    for shape in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, shape).date()
        except ValueError:
            continue
    return None


def _read_courses(export: StsExport, node: ElementTree.Element, classes: set[str]) -> None:
    for teacher in node.iterfind("SERVICES/SERVICE/ENSEIGNANTS/ENSEIGNANT"):
        for course in teacher.iterfind("COURS_RATTACHES/COURS"):
            lesson = _course(course, next(iter(classes))) if len(classes) == 1 else None
            if lesson is None:
                export.left_out += 1
                continue
            export.weekly_of.setdefault(teacher.get("ID", ""), []).append(lesson)


def _parse(data: bytes) -> ElementTree.Element:
    if len(data) > MAX_BYTES:
        raise StsError(N_("plus de 50 Mo : ce n'est pas un export STS-Web"))
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise StsError(N_("une déclaration de type de document : STS-Web n'en écrit jamais"))
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as err:
        raise StsError(N_("ce n'est pas du XML : %(reason)s"), reason=str(err)) from err
    if root.tag.upper() != "STS_EDT":
        raise StsError(
            N_("la racine est <%(tag)s>, pas <STS_EDT> : est-ce bien STS_emp_<UAI>_<année>.xml ?"),
            tag=root.tag,
        )
    return root


def read_sts(data: bytes) -> StsExport:
    """Return the export's teachers, each one's classes and weekly courses, every division."""
    root = _parse(data)
    export = StsExport()
    export.teachers = {
        node.get("ID", ""): StsTeacher(
            node.get("ID", ""),
            (node.findtext("NOM_USAGE") or "").strip(),
            (node.findtext("PRENOM") or "").strip(),
        )
        for node in root.iterfind("DONNEES/INDIVIDUS/INDIVIDU")
        if node.get("ID")
    }
    for alternation in root.iter("ALTERNANCE"):
        mondays = {_monday(node.text or "") for node in alternation.iter("DATE_DEBUT_SEMAINE")}
        export.alternations[alternation.get("CODE", "").strip()] = frozenset(
            day for day in mondays if day is not None
        )
    for division in root.iterfind("DONNEES/STRUCTURE/DIVISIONS/DIVISION"):
        code = division.get("CODE", "").strip()
        if not code:
            continue
        export.divisions.add(code)
        for teacher_id in _teacher_ids(division):
            export.classes_of.setdefault(teacher_id, set()).add(code)
        _read_courses(export, division, {code})
    for group in root.iterfind("DONNEES/STRUCTURE/GROUPES/GROUPE"):
        members = {
            node.get("CODE", "").strip()
            for node in group.iterfind("DIVISIONS_APPARTENANCE/DIVISION_APPARTENANCE")
        } - {""}
        for teacher_id in _teacher_ids(group):
            export.classes_of.setdefault(teacher_id, set()).update(members)
        _read_courses(export, group, members)
    return export


def match_teachers(data: bytes, people: Iterable[tuple[str, str, str]]) -> StsLinks:
    """Return each directory person's classes per the export; ``people``: (id, surname, given)."""
    export = read_sts(data)
    by_name: dict[str, list[str]] = {}
    for person_id, surname, given_name in people:
        by_name.setdefault(_key(surname, given_name), []).append(person_id)
    links = StsLinks(divisions=export.divisions, alternations=export.alternations)
    links.left_out = export.left_out
    for teacher_id, classes in sorted(export.classes_of.items()):
        teacher = export.teachers.get(teacher_id)
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
            if teacher_id in export.weekly_of:
                links.weekly_of.setdefault(found[0], []).extend(export.weekly_of[teacher_id])
    return links

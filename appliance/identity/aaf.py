"""People from the national exports, where the school has no LDAP (issue #13 scope 1).

Two shapes, read into the same :class:`ImportedPerson` list:

* the AAF's XML (Annuaire Académique Fédérateur, what ENTs are fed with):
  a ``ficAlimMENESR`` root of ``addRequest`` entries, each with its
  ``identifier/id``, its ``operationalAttributes`` (``categoriePersonne``:
  ``Eleve``, ``PersEducNat``; parents, ``PersRelEleve``, are left out) and
  its ``attributes`` (``attr name=… / value``): ``ENTPersonLogin``, ``sn``,
  ``givenName``, ``ENTEleveClasses`` and ``ENTAuxEnsClasses``
  (``UAI$6A``), ``ENTEleveNivFormation``, ``ENTPersonProfils``;
* SIECLE's pupils as CSV (Base élèves → Exports → "Élèves" in CSV):
  ``;``-separated columns named ``NOM``, ``PRENOM`` (or ``PRÉNOM 1``),
  ``DIVISION`` (or ``CLASSE``) and, when present, ``MEF`` or ``NIVEAU``.

Only CARMO table 9's fields are kept: an account name, names, role, school,
level, class, and a teacher's classes. A date of birth, an INE, an address
or a parent are in those files and are never read. An account name is the
file's ``ENTPersonLogin`` or else ``prénom.nom`` (plain letters, numbered
when two people share it). Pure: no I/O; the XML parser refuses a document
type declaration, as the AAF never writes one.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import dataclass, field

from appliance.config import Role
from appliance.i18n import N_, folded
from appliance.problems import Problem, UserError

MAX_BYTES = 100 * 1024 * 1024
MAX_PEOPLE = 10_000
_LOGIN_PART = re.compile(r"[^a-z0-9]+")
TOO_MANY = Problem(
    N_("plus de %(count)s personnes : est-ce bien un établissement ?"), {"count": MAX_PEOPLE}
)


class ExportFileError(UserError):
    """A file that cannot be read as an AAF or SIECLE export."""


@dataclass(frozen=True, slots=True)
class ImportedPerson:
    """A person as the export gives them, reduced to CARMO table 9."""

    login: str
    role: Role
    given_name: str
    surname: str
    class_name: str = ""
    level: str = ""
    teaches: tuple[str, ...] = field(default=())


def _login(given_name: str, surname: str) -> str:
    given = _LOGIN_PART.sub("-", folded(given_name)).strip("-")
    family = _LOGIN_PART.sub("-", folded(surname)).strip("-")
    return ".".join(part for part in (given, family) if part)[:48] or "compte"


def _unique(people: Iterable[ImportedPerson]) -> list[ImportedPerson]:
    """Number the account names two people share (jean.martin, jean.martin2 …)."""
    seen: dict[str, int] = {}
    found = []
    for person in people:
        count = seen.get(person.login, 0) + 1
        seen[person.login] = count
        login = person.login if count == 1 else f"{person.login}{count}"
        found.append(
            ImportedPerson(login, person.role, person.given_name, person.surname,
                           person.class_name, person.level, person.teaches)
        )  # fmt: skip
    return found


def _classes(values: Iterable[str], school_uai: str) -> list[str]:
    """Return the class names of ``UAI$6A`` values, this school's only."""
    found = []
    for value in values:
        uai, separator, name = value.partition("$")
        name = name.strip() if separator else uai.strip()
        mine = not separator or not school_uai or uai.strip().upper() == school_uai.upper()
        if name and mine:
            found.append(name[:32])
    return found


def _refuse_doctype(data: bytes) -> None:
    if len(data) > MAX_BYTES:
        raise ExportFileError(N_("plus de 100 Mo : ce n'est pas un export d'annuaire"))
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise ExportFileError(N_("une déclaration de type de document : l'AAF n'en écrit jamais"))


def read_aaf(data: bytes, school_uai: str) -> list[ImportedPerson]:
    """Return the pupils and staff of an AAF XML file, for ``school_uai``."""
    _refuse_doctype(data)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as err:
        raise ExportFileError(N_("ce n'est pas du XML : %(reason)s"), reason=str(err)) from err
    if root.tag != "ficAlimMENESR":
        raise ExportFileError(
            N_("la racine est <%(tag)s>, pas <ficAlimMENESR> : est-ce bien un fichier de l'AAF ?"),
            tag=root.tag,
        )
    people = []
    for entry in root.iter("addRequest"):
        values: dict[str, list[str]] = {}
        for attr in entry.iter("attr"):
            values.setdefault(attr.get("name", ""), []).extend(
                (value.text or "").strip() for value in attr.iter("value")
            )
        category = (values.get("categoriePersonne") or [""])[0]
        if category not in ("Eleve", "PersEducNat"):
            continue  # parents and others: not people of the box
        given = (values.get("givenName") or values.get("ENTPersonPrenom") or [""])[0]
        surname = (values.get("sn") or values.get("ENTPersonNomPatro") or [""])[0]
        if not given and not surname:
            continue
        login = (values.get("ENTPersonLogin") or [""])[0].lower() or _login(given, surname)
        if category == "Eleve":
            classes = _classes(values.get("ENTEleveClasses", []), school_uai)
            people.append(
                ImportedPerson(login, "pupil", given, surname, classes[0] if classes else "",
                               (values.get("ENTEleveNivFormation") or [""])[0][:16])
            )  # fmt: skip
        else:
            profiles = " ".join(values.get("ENTPersonProfils", []))
            taught = _classes(values.get("ENTAuxEnsClasses", []), school_uai)
            role: Role = "teacher" if taught or "ENS" in profiles.upper() else "staff"
            people.append(
                ImportedPerson(login, role, given, surname, teaches=tuple(dict.fromkeys(taught)))
            )
        if len(people) > MAX_PEOPLE:
            raise ExportFileError(TOO_MANY)
    return _unique(people)


_COLUMNS = {
    "surname": ("nom", "nom de famille", "nom d'usage"),
    "given_name": ("prenom", "prenom 1", "premier prenom"),
    "class_name": ("division", "classe"),
    "level": ("mef", "niveau", "libelle mef"),
}


def decoded(data: bytes) -> str:
    """Return a CSV export's text: UTF-8 (with or without BOM), else Windows-1252 as SIECLE's."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_siecle(text: str) -> list[ImportedPerson]:
    """Return the pupils of a SIECLE CSV export (names, class, level; nothing else)."""
    dialect = ";" if text.count(";") >= text.count(",") else ","
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=dialect)
    header = next(rows, None)
    if header is None:
        raise ExportFileError(N_("le fichier est vide"))
    names = [folded(cell).strip() for cell in header]
    where: dict[str, int] = {}
    for key, accepted in _COLUMNS.items():
        for index, name in enumerate(names):
            if name in accepted:
                where[key] = index
                break
    missing = [key for key in ("surname", "given_name", "class_name") if key not in where]
    if missing:
        raise ExportFileError(
            N_("colonnes NOM, PRENOM et DIVISION attendues ; manquent : %(columns)s"),
            columns=", ".join(_COLUMNS[key][0].upper() for key in missing),
        )
    people = []
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(where.values()):
            raise ExportFileError(N_("ligne %(line)s : il manque des colonnes"), line=number)

        def cell(key: str, row: list[str] = row) -> str:
            return row[where[key]].strip() if key in where else ""

        people.append(
            ImportedPerson(_login(cell("given_name"), cell("surname")), "pupil",
                           cell("given_name"), cell("surname"), cell("class_name")[:32],
                           cell("level")[:16])
        )  # fmt: skip
        if len(people) > MAX_PEOPLE:
            raise ExportFileError(TOO_MANY)
    return _unique(people)

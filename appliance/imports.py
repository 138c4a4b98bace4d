"""The national files and the timetables, previewed, then stored (issue #13 scope 1 and 2).

One preview per kind of file, for the CLI (``preau directory import-sts``,
``import-file``, ``preau timetable import-ics``, ``import-grid``) and the
referent's "Imports" page alike: :func:`preview_sts`,
:func:`preview_people`, :func:`preview_timetable` read the file (through
its pure reader, which refuses what is not the format), compare it with
what the box has, and return an :class:`ImportPreview`: the lines to show
(French message ids with their values, said in the reader's language) and
``store``, which writes exactly that and returns the lines saying so.
Nothing is written before ``store`` is called.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from appliance.atomic import write_atomic
from appliance.csv_export import csv_text
from appliance.i18n import N_
from appliance.identity import aaf, file_import
from appliance.identity.sts import StsLinks, match_teachers
from appliance.problems import Problem, UserError
from appliance.scheduler.jobs import load_calendar
from appliance.scheduler.periods import grid_from_config
from appliance.scheduler.timetable import ReadReport, read_lessons, weekly_shape
from appliance.scheduler.timetable_state import replace_lessons, stored_lessons
from appliance.scheduler.weekly import WeeklyLesson, ab_weeks, expand_weekly, read_grid

if TYPE_CHECKING:
    from appliance.core import Core

HORIZON: Final = dt.timedelta(days=400)  # a school year, with its summer
SHOWN: Final = 40  # lines of detail at most, per list
TimetableKind = Literal["ics", "grid"]


class ImportRefused(UserError):
    """An import that cannot go on (the message says why)."""


def _line(message: str, **values: object) -> Problem:
    return Problem(message, values)


@dataclass(slots=True)
class ImportPreview:
    """What a file would change: the lines to show, and how to store it."""

    lines: list[Problem]
    store: Callable[[], Awaitable[list[Problem]]]


# -- timetables ---------------------------------------------------------------------------


async def _teacher(core: Core, login: str) -> None:
    person = await core.directory.person(login)
    if person is None or person.role not in ("teacher", "referent"):
        raise ImportRefused(N_("%(login)s : aucun enseignant de ce nom"), login=login)


def _window() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return now - dt.timedelta(days=1), now + HORIZON


async def _weekly_change(core: Core, login: str, report: ReadReport, source: str) -> list[str]:
    """Return the weekly slots whose count changes ("+ lun. 10:05-11:00 6A (0 → 30)")."""
    zone = core.config.site.zone
    before = weekly_shape(await stored_lessons(core, login, source), zone)
    after = weekly_shape(report.lessons, zone)
    return [
        f"{'+' if after[key] > before[key] else '-'} {key} ({before[key]} → {after[key]})"
        for key in sorted(set(before) | set(after))
        if before[key] != after[key]
    ]


async def _timetable_lines(
    core: Core, login: str, report: ReadReport, changes: list[str]
) -> list[Problem]:
    classes = sorted({lesson.class_name for lesson in report.lessons})
    lines = [
        _line(N_("%(count)s cours lus (classes : %(classes)s)."), count=len(report.lessons),
              classes=", ".join(classes) or "—"),
    ]  # fmt: skip
    for summary, count in report.no_class.most_common(5):
        lines.append(_line(N_("  laissé de côté, aucune classe : « %(summary)s » ×%(count)s"),
                           summary=summary, count=count))  # fmt: skip
    for summary, count in report.several_classes.most_common(5):
        lines.append(_line(N_("  laissé de côté, plusieurs classes : « %(summary)s » ×%(count)s"),
                           summary=summary, count=count))  # fmt: skip
    if report.closed_days:
        lines.append(_line(N_("  %(count)s cours tombent un jour de fermeture (vacances) : "
                              "ignorés."), count=report.closed_days))  # fmt: skip
    unlinked = sorted(set(classes) - set(await core.directory.classes_taught(login)))
    if unlinked:
        lines.append(
            _line(N_("Attention : %(login)s n'est pas rattaché à %(classes)s ; le référent peut "
                     "l'ajouter (PUT /api/v1/people/{id}/classes)."), login=login,
                  classes=", ".join(unlinked))
        )  # fmt: skip
    lines.append(_line(N_("Changements : %(count)s créneaux hebdomadaires."), count=len(changes)))
    lines += [_line("  %(change)s", change=change) for change in changes[:SHOWN]]
    return lines


async def _store_lessons(
    core: Core, login: str, report: ReadReport, source: str, actor: str
) -> int:
    stored = await replace_lessons(core, login, report.lessons, source)
    await core.audit.record(
        actor=actor, source="local" if actor == "cli" else "web", action="timetable.import",
        target=login, outcome="success", detail=f"{source}: {stored} lessons",
    )  # fmt: skip
    return stored


async def preview_timetable(
    core: Core, login: str, data: bytes, kind: TimetableKind, *, actor: str
) -> ImportPreview:
    """Preview a teacher's timetable: an iCalendar export, or a weekly grid (CSV)."""
    await _teacher(core, login)
    calendar = await load_calendar(core)
    since, until = _window()
    classes = await core.directory.classes()
    if kind == "ics":
        report = read_lessons(data, classes, calendar, since=since, until=until)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
        settings = core.config.scheduler
        weekly = read_grid(text, grid_from_config(settings), classes)
        alternations = {}
        if any(lesson.alternation for lesson in weekly):
            if settings.week_a is None:
                raise ImportRefused(
                    N_("semaines A et B : indiquez un jour d'une semaine A (scheduler.week_a).")
                )
            alternations = ab_weeks(calendar, settings.week_a, since.date(), until.date())
        report = expand_weekly(
            weekly, calendar, since=since, until=until, alternations=alternations
        )
    changes = await _weekly_change(core, login, report, kind)

    async def store() -> list[Problem]:
        stored = await _store_lessons(core, login, report, kind, actor)
        return [_line(N_("Enregistré : %(count)s cours."), count=stored)]

    return ImportPreview(await _timetable_lines(core, login, report, changes), store)


# -- STS-Web ------------------------------------------------------------------------------


async def _sts_lessons(core: Core, links: StsLinks) -> dict[str, ReadReport]:
    """Return each teacher's dated lessons from the export (empty for one it no longer has)."""
    calendar = await load_calendar(core)
    since, until = _window()
    rows = await core.db.fetchall("SELECT DISTINCT person_id FROM timetable WHERE source = 'sts'")
    gone: dict[str, list[WeeklyLesson]] = {
        row["person_id"]: [] for row in rows if row["person_id"] not in links.weekly_of
    }
    return {
        person_id: expand_weekly(
            weekly, calendar, since=since, until=until, alternations=links.alternations
        )
        for person_id, weekly in sorted({**gone, **links.weekly_of}.items())
    }


async def preview_sts(core: Core, data: bytes, *, actor: str, name: str) -> ImportPreview:
    """Preview STS-Web's export: the teacher↔class links and the teachers' courses."""
    rows = await core.db.fetchall(
        "SELECT id, surname, given_name FROM people"
        " WHERE role IN ('teacher', 'referent', 'staff') AND departed_at IS NULL"
    )
    links = match_teachers(data, [(r["id"], r["surname"], r["given_name"]) for r in rows])
    before = await core.directory.links_from("sts")
    after = {(person, name) for person, names in links.classes_of.items() for name in names}
    lines = [
        _line(N_("%(teachers)s enseignants reconnus, %(links)s liens enseignant-classe, "
                 "%(classes)s classes."), teachers=len(links.classes_of), links=len(after),
              classes=len(links.divisions)),
    ]  # fmt: skip
    lines += [_line(N_("  absent de l'annuaire : %(name)s"), name=n) for n in links.unmatched[:20]]
    lines += [
        _line(N_("  plusieurs personnes portent ce nom : %(name)s"), name=n)
        for n in links.ambiguous[:20]
    ]
    added, removed = sorted(after - before), sorted(before - after)
    lines.append(_line(N_("Changements : %(added)s liens ajoutés, %(removed)s retirés."),
                       added=len(added), removed=len(removed)))  # fmt: skip
    lines += [_line("  + %(who)s %(what)s", who=p, what=c) for p, c in added[:SHOWN]]
    lines += [_line("  - %(who)s %(what)s", who=p, what=c) for p, c in removed[:SHOWN]]
    reports = await _sts_lessons(core, links)
    changed = 0
    for person_id, report in reports.items():
        changed += len(await _weekly_change(core, person_id, report, "sts"))
    total = sum(len(report.lessons) for report in reports.values())
    lines.append(
        _line(N_("Emplois du temps : %(weekly)s cours hebdomadaires de %(teachers)s enseignants, "
                 "%(count)s cours datés ; %(changed)s créneaux hebdomadaires changent."),
              weekly=sum(len(w) for w in links.weekly_of.values()),
              teachers=len(links.weekly_of), count=total, changed=changed)
    )  # fmt: skip
    if links.left_out:
        lines.append(_line(N_("  %(count)s cours d'un groupe de plusieurs classes : laissés de "
                              "côté."), count=links.left_out))  # fmt: skip

    async def store() -> list[Problem]:
        await core.directory.replace_links("sts", links.classes_of)
        for person_id, report in reports.items():
            await replace_lessons(core, person_id, report.lessons, "sts")
        await core.audit.record(
            actor=actor, source="local" if actor == "cli" else "web",
            action="teaching.import_sts", target=name, outcome="success",
            detail=f"{len(after)} links, {total} lessons",
        )  # fmt: skip
        return [_line(N_("Enregistré : %(count)s liens, %(lessons)s cours."), count=len(after),
                      lessons=total)]  # fmt: skip

    return ImportPreview(lines, store)


# -- people where no LDAP exists ------------------------------------------------------------


def read_people(data: bytes, school_uai: str) -> tuple[list[aaf.ImportedPerson], str]:
    """Return the people of an AAF XML or a SIECLE CSV file, and which it was."""
    if data.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"<"):
        return aaf.read_aaf(data, school_uai), "aaf"
    return aaf.read_siecle(aaf.decoded(data)), "siecle"


def first_passwords_file(core: Core) -> Path:
    """Return a new file name for the first passwords of an import (under the data folder)."""
    stamp = dt.datetime.now(core.config.site.zone).strftime("%Y%m%d-%H%M%S")
    return core.config.site.data_dir / "imports" / f"premiers-mots-de-passe-{stamp}.csv"


async def preview_people(core: Core, data: bytes, *, actor: str, name: str) -> ImportPreview:
    """Preview an AAF or SIECLE file: who arrives, changes class, comes back or leaves."""
    people, source = read_people(data, core.directory.default_school)
    plan = await file_import.plan_import(core, people, source)
    roles = Counter(person.role for person in people)
    lines = [
        _line(N_("%(total)s personnes lues : %(pupils)s élèves, %(teachers)s enseignants, "
                 "%(staff)s autres personnels."), total=len(people), pupils=roles["pupil"],
              teachers=roles["teacher"], staff=roles["staff"]),
        _line(N_("Nouveaux comptes : %(new)s ; changements de classe : %(changed)s ; retours : "
                 "%(returned)s ; départs : %(departed)s ; inchangés : %(unchanged)s."),
              new=len(plan.new), changed=len(plan.changed), returned=len(plan.returned),
              departed=len(plan.departed), unchanged=plan.unchanged),
    ]  # fmt: skip
    lines += [
        _line("  %(login)s : %(old)s → %(new)s", login=person.login, old=old or "—",
              new=person.class_name or "—")
        for person, old in plan.changed[:SHOWN]
    ]  # fmt: skip
    lines += [_line(N_("  départ : %(login)s"), login=login) for login in plan.departed[:SHOWN]]
    lines += [
        _line(N_("  %(login)s : un compte existe déjà (créé à la main ou par l'annuaire) ; "
                 "il n'est pas modifié."), login=login)
        for login in plan.kept_apart[:20]
    ]  # fmt: skip

    async def store() -> list[Problem]:
        done = await file_import.commit_import(core, people, plan, source)
        said = []
        if done.first_passwords:
            target = first_passwords_file(core)
            names = {p.login: (f"{p.given_name} {p.surname}", p.class_name) for p in people}
            rows = [(login, *names[login], secret)
                    for login, secret in sorted(done.first_passwords.items())]  # fmt: skip
            header = ("identifiant", "nom", "classe", "premier mot de passe")
            await core.executor.run(write_atomic, target, csv_text(header, rows), mode=0o600)
            said.append(
                _line(N_("Premiers mots de passe : %(path)s (lisible par root seulement ; à "
                         "distribuer puis à supprimer)."), path=str(target))
            )  # fmt: skip
        await core.audit.record(
            actor=actor, source="local" if actor == "cli" else "web",
            action="directory.import_file", target=name, outcome="success",
            detail=f"{source}: {len(plan.new)} new, {len(plan.departed)} departed",
        )  # fmt: skip
        return [*said, _line(N_("Enregistré."))]

    return ImportPreview(lines, store)

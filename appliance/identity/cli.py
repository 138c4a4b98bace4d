"""`preau directory import-sts` and `import-file`: the national files (issue #13 scope 1).

``import-sts``: STS-Web's export gives who teaches which class (stored as
the ``sts`` source of the teaching links) and each teacher's weekly courses,
which become their timetable (source ``sts``) through the same expansion as
the manual grid. ``import-file``: where there is no LDAP, the AAF's XML or
SIECLE's CSV become local accounts; the new accounts' first passwords go to
a file only root reads, never to the screen or the logs. Both preview
first; ``--commit`` stores.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import click

from appliance import commands
from appliance.atomic import write_atomic
from appliance.cli_words import PreauCommand
from appliance.core import Core
from appliance.csv_export import csv_text
from appliance.i18n import N_
from appliance.identity import aaf, file_import
from appliance.identity.sts import StsError, StsLinks, match_teachers
from appliance.scheduler.cli import HORIZON, preview_and_store
from appliance.scheduler.jobs import load_calendar
from appliance.scheduler.weekly import WeeklyLesson, expand_weekly


async def _lessons(core: Core, links: StsLinks, commit: bool) -> int:
    """Say how the teachers' timetables change; store them with ``commit``; return the count."""
    _ = commands.cli_gettext()
    calendar = await load_calendar(core)
    now = dt.datetime.now(dt.UTC)
    total = changed = 0
    # A teacher the export no longer gives courses to loses the old ones.
    rows = await core.db.fetchall("SELECT DISTINCT person_id FROM timetable WHERE source = 'sts'")
    gone: dict[str, list[WeeklyLesson]] = {
        row["person_id"]: [] for row in rows if row["person_id"] not in links.weekly_of
    }
    for person_id, weekly in sorted({**gone, **links.weekly_of}.items()):
        report = expand_weekly(
            weekly, calendar, since=now - dt.timedelta(days=1), until=now + HORIZON,
            alternations=links.alternations,
        )  # fmt: skip
        total += len(report.lessons)
        changed += await preview_and_store(core, person_id, report, "sts", commit, quiet=True)
    click.echo(
        _("Emplois du temps : %(weekly)s cours hebdomadaires de %(teachers)s enseignants, "
          "%(count)s cours datés ; %(changed)s créneaux hebdomadaires changent.",
          weekly=sum(len(w) for w in links.weekly_of.values()),
          teachers=len(links.weekly_of), count=total, changed=changed)
    )  # fmt: skip
    if links.left_out:
        click.echo(
            _("  %(count)s cours d'un groupe de plusieurs classes : laissés de côté.",
              count=links.left_out)
        )  # fmt: skip
    return total


@click.command(
    "import-sts",
    cls=PreauCommand,
    help=N_(
        "Lit l'export STS-Web « Emploi du temps » (STS_emp_UAI_année.xml) : qui enseigne dans "
        "quelle classe. Montre ce qui change ; --commit l'enregistre."
    ),
)
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@commands.preview_or_commit
@click.pass_context
def import_sts(ctx: click.Context, file: Path, commit: bool) -> None:
    """Preview (or commit) the teacher-class links of an STS-Web timetable export."""
    _ = commands.cli_gettext()
    config = commands.config(ctx)
    data = commands.read_input(file)

    async def body(core: Core) -> None:
        rows = await core.db.fetchall(
            "SELECT id, surname, given_name FROM people"
            " WHERE role IN ('teacher', 'referent', 'staff') AND departed_at IS NULL"
        )
        try:
            links = match_teachers(data, [(r["id"], r["surname"], r["given_name"]) for r in rows])
        except StsError as err:
            commands.fail(err, 2)
        before = await core.directory.links_from("sts")
        after = {(person, name) for person, names in links.classes_of.items() for name in names}
        click.echo(
            _("%(teachers)s enseignants reconnus, %(links)s liens enseignant-classe, "
              "%(classes)s classes.", teachers=len(links.classes_of), links=len(after),
              classes=len(links.divisions))
        )  # fmt: skip
        for name in links.unmatched[:20]:
            click.echo(_("  absent de l'annuaire : %(name)s", name=name))
        for name in links.ambiguous[:20]:
            click.echo(_("  plusieurs personnes portent ce nom : %(name)s", name=name))
        added, removed = sorted(after - before), sorted(before - after)
        click.echo(
            _("Changements : %(added)s liens ajoutés, %(removed)s retirés.",
              added=len(added), removed=len(removed))
        )  # fmt: skip
        for person, name in added[:40]:
            click.echo(f"  + {person} {name}")
        for person, name in removed[:40]:
            click.echo(f"  - {person} {name}")
        if commit:
            await core.directory.replace_links("sts", links.classes_of)
        lessons = await _lessons(core, links, commit)
        if not commit:
            commands.say_preview_only()
            return
        await core.audit.record(
            actor="cli", source="local", action="teaching.import_sts", target=str(file.name),
            outcome="success", detail=f"{len(after)} links",
        )  # fmt: skip
        click.echo(
            _("Enregistré : %(count)s liens, %(lessons)s cours.", count=len(after),
              lessons=lessons)
        )  # fmt: skip

    commands.with_core(config, ctx.obj["config_path"], body)


@click.command(
    "import-file",
    cls=PreauCommand,
    help=N_(
        "Lit un export de l'AAF (XML) ou de SIECLE (élèves, CSV), là où il n'y a pas "
        "d'annuaire LDAP : montre qui arrive, change de classe ou part ; --commit crée les "
        "comptes et écrit leurs premiers mots de passe dans un fichier."
    ),
)
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@commands.preview_or_commit
@click.pass_context
def import_file(ctx: click.Context, file: Path, commit: bool) -> None:
    """Preview (or commit) the people of an AAF or SIECLE export as local accounts."""
    _ = commands.cli_gettext()
    config = commands.config(ctx)
    data = commands.read_input(file)
    is_xml = data.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"<")
    source = "aaf" if is_xml else "siecle"

    async def body(core: Core) -> None:
        try:
            if is_xml:
                people = aaf.read_aaf(data, core.directory.default_school)
            else:
                people = aaf.read_siecle(aaf.decoded(data))
            plan = await file_import.plan_import(core, people, source)
        except aaf.ExportFileError as err:
            commands.fail(err, 2)
        roles = Counter(person.role for person in people)
        click.echo(
            _("%(total)s personnes lues : %(pupils)s élèves, %(teachers)s enseignants, "
              "%(staff)s autres personnels.", total=len(people), pupils=roles["pupil"],
              teachers=roles["teacher"], staff=roles["staff"])
        )  # fmt: skip
        click.echo(
            _("Nouveaux comptes : %(new)s ; changements de classe : %(changed)s ; retours : "
              "%(returned)s ; départs : %(departed)s ; inchangés : %(unchanged)s.",
              new=len(plan.new), changed=len(plan.changed), returned=len(plan.returned),
              departed=len(plan.departed), unchanged=plan.unchanged)
        )  # fmt: skip
        for person, old in plan.changed[:40]:
            click.echo(f"  {person.login} : {old or '—'} → {person.class_name or '—'}")
        for login in plan.departed[:40]:
            click.echo(_("  départ : %(login)s", login=login))
        for login in plan.kept_apart[:20]:
            click.echo(
                _("  %(login)s : un compte existe déjà (créé à la main ou par l'annuaire) ; "
                  "il n'est pas modifié.", login=login)
            )  # fmt: skip
        if not commit:
            commands.say_preview_only()
            return
        done = await file_import.commit_import(core, people, plan, source)
        if done.first_passwords:
            stamp = dt.datetime.now(core.config.site.zone).strftime("%Y%m%d-%H%M%S")
            target = core.config.site.data_dir / "imports" / f"premiers-mots-de-passe-{stamp}.csv"
            names = {p.login: (f"{p.given_name} {p.surname}", p.class_name) for p in people}
            rows = [
                (login, *names[login], secret)
                for login, secret in sorted(done.first_passwords.items())
            ]
            header = (_("identifiant"), _("nom"), _("classe"), _("premier mot de passe"))
            write_atomic(target, csv_text(header, rows), mode=0o600)
            click.echo(
                _("Premiers mots de passe : %(path)s (lisible par root seulement ; à "
                  "distribuer puis à supprimer).", path=str(target))
            )  # fmt: skip
        await core.audit.record(
            actor="cli", source="local", action="directory.import_file", target=file.name,
            outcome="success",
            detail=f"{source}: {len(plan.new)} new, {len(plan.departed)} departed",
        )  # fmt: skip
        click.echo(_("Enregistré."))

    commands.with_core(config, ctx.obj["config_path"], body)

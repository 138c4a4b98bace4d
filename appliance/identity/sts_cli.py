"""`preau directory import-sts`: teachers' classes and weekly courses from STS-Web (issue #13).

The export gives who teaches which class (stored as the ``sts`` source of the
teaching links) and each teacher's weekly courses, which become their
timetable (source ``sts``) through the same expansion as the manual grid.
Preview first; ``--commit`` stores both.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from appliance import commands
from appliance.cli_words import PreauCommand
from appliance.core import Core
from appliance.i18n import N_
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
@click.option("--commit", is_flag=True, help=N_("Enregistre (sinon : aperçu seulement)."))
@click.pass_context
def import_sts(ctx: click.Context, file: Path, commit: bool) -> None:
    """Preview (or commit) the teacher-class links of an STS-Web timetable export."""
    _ = commands.cli_gettext()
    config = commands.config(ctx)
    try:
        data = file.read_bytes()
    except OSError as err:
        commands.fail(f"{file}: {err.strerror}", 2)

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
            click.echo(_("Aperçu seulement : relancez avec --commit pour enregistrer."))
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

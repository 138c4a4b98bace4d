"""`preau timetable …`: a teacher's timetable, previewed, then committed (issue #13 scope 2)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from appliance import commands
from appliance.cli_words import PreauGroup
from appliance.core import Core
from appliance.i18n import N_
from appliance.scheduler.jobs import load_calendar
from appliance.scheduler.timetable import TimetableError, read_lessons, weekly_shape
from appliance.scheduler.timetable_state import replace_lessons, stored_lessons

HORIZON = dt.timedelta(days=400)  # a school year, with its summer


@click.group(
    "timetable", cls=PreauGroup, help=N_("Emplois du temps des enseignants (EDT, Pronote…).")
)
def timetable() -> None:
    """Teachers' timetables."""


@timetable.command(
    "import-ics",
    help=N_(
        "Lit l'export iCalendar (EDT, Pronote, WebUntis) de l'enseignant LOGIN : montre ce qui "
        "change ; --commit l'enregistre."
    ),
)
@click.argument("login")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--commit", is_flag=True, help=N_("Enregistre (sinon : aperçu seulement)."))
@click.pass_context
def import_ics(ctx: click.Context, login: str, file: Path, commit: bool) -> None:
    """Preview (or commit) a teacher's timetable from an iCalendar export."""
    _ = commands.cli_gettext()
    config = commands.config(ctx)
    try:
        data = file.read_bytes()
    except OSError as err:
        commands.fail(f"{file}: {err.strerror}", 2)

    async def body(core: Core) -> None:
        person = await core.directory.person(login)
        if person is None or person.role not in ("teacher", "referent"):
            commands.fail(_("%(login)s : aucun enseignant de ce nom", login=login), 2)
        rows = await core.db.fetchall("SELECT DISTINCT name FROM groups WHERE kind = 'class'")
        now = dt.datetime.now(dt.UTC)
        try:
            report = read_lessons(
                data,
                [row["name"] for row in rows],
                await load_calendar(core),
                since=now - dt.timedelta(days=1),
                until=now + HORIZON,
            )
        except TimetableError as err:
            commands.fail(f"{file}: {err}", 2)
        zone = core.config.site.zone
        before = weekly_shape(await stored_lessons(core, login, "ics"), zone)
        after = weekly_shape(report.lessons, zone)
        classes = sorted({lesson.class_name for lesson in report.lessons})
        click.echo(
            _("%(count)s cours lus (classes : %(classes)s).", count=len(report.lessons),
              classes=", ".join(classes) or "—")
        )  # fmt: skip
        for summary, count in report.no_class.most_common(5):
            click.echo(_("  laissé de côté, aucune classe : « %(summary)s » ×%(count)s",
                         summary=summary, count=count))  # fmt: skip
        for summary, count in report.several_classes.most_common(5):
            click.echo(_("  laissé de côté, plusieurs classes : « %(summary)s » ×%(count)s",
                         summary=summary, count=count))  # fmt: skip
        if report.closed_days:
            click.echo(_("  %(count)s cours tombent un jour de fermeture (vacances) : ignorés.",
                         count=report.closed_days))  # fmt: skip
        unlinked = sorted(set(classes) - set(await core.directory.classes_taught(login)))
        if unlinked:
            click.echo(
                _("Attention : %(login)s n'est pas rattaché à %(classes)s ; le référent peut "
                  "l'ajouter (PUT /api/v1/people/{id}/classes).", login=login,
                  classes=", ".join(unlinked)),
                err=True,
            )  # fmt: skip
        changes = sorted(set(before) | set(after))
        shown = [key for key in changes if before[key] != after[key]]
        click.echo(_("Changements : %(count)s créneaux hebdomadaires.", count=len(shown)))
        for key in shown[:40]:
            sign = "+" if after[key] > before[key] else "-"
            click.echo(f"  {sign} {key} ({before[key]} → {after[key]})")
        if not commit:
            click.echo(_("Aperçu seulement : relancez avec --commit pour enregistrer."))
            return
        stored = await replace_lessons(core, login, report.lessons, "ics")
        await core.audit.record(
            actor="cli", source="local", action="timetable.import", target=login,
            outcome="success", detail=f"{stored} lessons",
        )  # fmt: skip
        click.echo(_("Enregistré : %(count)s cours.", count=stored))

    commands.with_core(config, ctx.obj["config_path"], body)

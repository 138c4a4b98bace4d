"""`preau timetable …`: a teacher's timetable, previewed, then committed (issue #13 scope 2)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from appliance import commands
from appliance.cli_words import PreauGroup
from appliance.config import SchedulerConfig
from appliance.core import Core
from appliance.i18n import N_
from appliance.scheduler.jobs import load_calendar
from appliance.scheduler.periods import grid_from_config
from appliance.scheduler.timetable import ReadReport, TimetableError, read_lessons, weekly_shape
from appliance.scheduler.timetable_state import replace_lessons, stored_lessons
from appliance.scheduler.weekly import ab_weeks, expand_weekly, read_grid

HORIZON = dt.timedelta(days=400)  # a school year, with its summer


async def school_classes(core: Core) -> list[str]:
    """Return the school's classes (the names a timetable may use)."""
    return await core.directory.classes()


async def _teacher(core: Core, login: str) -> None:
    _ = commands.cli_gettext()
    person = await core.directory.person(login)
    if person is None or person.role not in ("teacher", "referent"):
        commands.fail(_("%(login)s : aucun enseignant de ce nom", login=login), 2)


async def preview_and_store(
    core: Core, login: str, report: ReadReport, source: str, commit: bool, *, quiet: bool = False
) -> int:
    """Say what a teacher's import changes per weekly slot; store it with ``commit``."""
    _ = commands.cli_gettext()
    zone = core.config.site.zone
    before = weekly_shape(await stored_lessons(core, login, source), zone)
    after = weekly_shape(report.lessons, zone)
    classes = sorted({lesson.class_name for lesson in report.lessons})
    changes = sorted(set(before) | set(after))
    shown = [key for key in changes if before[key] != after[key]]
    if not quiet:
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
        click.echo(_("Changements : %(count)s créneaux hebdomadaires.", count=len(shown)))
        for key in shown[:40]:
            sign = "+" if after[key] > before[key] else "-"
            click.echo(f"  {sign} {key} ({before[key]} → {after[key]})")
    if not commit:
        return len(shown)
    stored = await replace_lessons(core, login, report.lessons, source)
    await core.audit.record(
        actor="cli", source="local", action="timetable.import", target=login,
        outcome="success", detail=f"{source}: {stored} lessons",
    )  # fmt: skip
    if not quiet:
        click.echo(_("Enregistré : %(count)s cours.", count=stored))
    return len(shown)


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
@commands.preview_or_commit
@click.pass_context
def import_ics(ctx: click.Context, login: str, file: Path, commit: bool) -> None:
    """Preview (or commit) a teacher's timetable from an iCalendar export."""
    config = commands.config(ctx)
    data = commands.read_input(file)

    async def body(core: Core) -> None:
        await _teacher(core, login)
        now = dt.datetime.now(dt.UTC)
        try:
            report = read_lessons(
                data,
                await school_classes(core),
                await load_calendar(core),
                since=now - dt.timedelta(days=1),
                until=now + HORIZON,
            )
        except TimetableError as err:
            commands.fail(err, 2)
        await preview_and_store(core, login, report, "ics", commit)
        if not commit:
            commands.say_preview_only()

    commands.with_core(config, ctx.obj["config_path"], body)


@timetable.command(
    "import-grid",
    help=N_(
        "Lit la grille hebdomadaire de l'enseignant LOGIN (CSV : jour;créneau;classe;salle;"
        "semaine A ou B) : montre ce qui change ; --commit l'enregistre."
    ),
)
@click.argument("login")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@commands.preview_or_commit
@click.pass_context
def import_grid(ctx: click.Context, login: str, file: Path, commit: bool) -> None:
    """Preview (or commit) a teacher's timetable from a weekly grid of créneaux."""
    _ = commands.cli_gettext()
    config = commands.config(ctx)
    try:
        text = commands.read_input(file).decode("utf-8-sig")
    except UnicodeDecodeError as err:
        commands.fail(f"{file}: {err}", 2)

    async def body(core: Core) -> None:
        await _teacher(core, login)
        settings = core.config.section(SchedulerConfig)
        calendar = await load_calendar(core)
        now = dt.datetime.now(dt.UTC)
        since, until = now - dt.timedelta(days=1), now + HORIZON
        try:
            weekly = read_grid(text, grid_from_config(settings), await school_classes(core))
            alternations = {}
            if any(lesson.alternation for lesson in weekly):
                if settings.week_a is None:
                    commands.fail(
                        _("semaines A et B : indiquez un jour d'une semaine A "
                          "(scheduler.week_a)."), 2
                    )  # fmt: skip
                alternations = ab_weeks(calendar, settings.week_a, since.date(), until.date())
            report = expand_weekly(
                weekly, calendar, since=since, until=until, alternations=alternations
            )
        except TimetableError as err:
            commands.fail(err, 2)
        await preview_and_store(core, login, report, "grid", commit)
        if not commit:
            commands.say_preview_only()

    commands.with_core(config, ctx.obj["config_path"], body)

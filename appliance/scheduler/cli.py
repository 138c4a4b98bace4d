"""`preau timetable …`: a teacher's timetable, previewed, then committed (issue #13 scope 2)."""

from __future__ import annotations

from pathlib import Path

import click

from appliance import commands, imports
from appliance.cli_words import PreauGroup
from appliance.core import Core
from appliance.i18n import N_


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
    data = commands.read_input(file)

    async def preview(core: Core) -> imports.ImportPreview:
        return await imports.preview_timetable(core, login, data, "ics", actor="cli")

    commands.run_import(ctx, preview, commit)


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
    data = commands.read_input(file)

    async def preview(core: Core) -> imports.ImportPreview:
        return await imports.preview_timetable(core, login, data, "grid", actor="cli")

    commands.run_import(ctx, preview, commit)

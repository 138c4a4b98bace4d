"""`preau directory import-sts` and `import-file`: the national files (issue #13 scope 1).

``import-sts``: STS-Web's export gives who teaches which class (stored as
the ``sts`` source of the teaching links) and each teacher's weekly courses,
which become their timetable (source ``sts``) through the same expansion as
the manual grid. ``import-file``: where there is no LDAP, the AAF's XML or
SIECLE's CSV become local accounts; the new accounts' first passwords go to
a file only root reads, never to the screen or the logs. Both preview
first; ``--commit`` stores. The previews are :mod:`appliance.imports`'s,
which the referent's "Imports" page shows too.
"""

from __future__ import annotations

from pathlib import Path

import click

from appliance import commands, imports
from appliance.cli_words import PreauCommand
from appliance.core import Core
from appliance.i18n import N_


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
    """Preview (or commit) the teacher-class links and courses of an STS-Web export."""
    data = commands.read_input(file)

    async def preview(core: Core) -> imports.ImportPreview:
        return await imports.preview_sts(core, data, actor="cli", name=file.name)

    commands.run_import(ctx, preview, commit)


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
    data = commands.read_input(file)

    async def preview(core: Core) -> imports.ImportPreview:
        return await imports.preview_people(core, data, actor="cli", name=file.name)

    commands.run_import(ctx, preview, commit)

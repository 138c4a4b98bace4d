"""`preau backup …`, `preau personnel …`, `preau classes …`: the storage's commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from appliance import commands
from appliance.cli_words import PreauGroup
from appliance.core import Core
from appliance.i18n import N_
from appliance.problems import problem_of
from storage.backup import BackupError, Backups
from storage.config import ProductionsConfig
from storage.escrow import EscrowError
from storage.personnel import SpaceError
from storage.store import ProductionsStore


@click.group(
    "backup",
    cls=PreauGroup,
    help=N_("Sauvegardes des espaces pédagogiques (restic ; PERSONNEL n'est jamais sauvegardé)."),
)
def backup() -> None:
    """Backups of the pedagogical spaces (restic; PERSONNEL is never backed up)."""


def _backups(ctx: click.Context) -> Backups:
    _ = commands.cli_gettext()
    config = commands.config(ctx)
    commands.setup_logging(ctx, config)
    if not config.section(ProductionsConfig).backup.enabled:
        commands.fail(
            _("productions.backup.enabled vaut false : aucun dépôt de sauvegarde configuré")
        )
    return Backups(config.section(ProductionsConfig).backup, config.site.data_dir)


@backup.command("run", help=N_("Sauvegarde maintenant les espaces pédagogiques."))
@click.pass_context
def backup_run(ctx: click.Context) -> None:
    """Back the pedagogical spaces up now."""
    try:
        snapshot = _backups(ctx).back_up()
    except BackupError as err:
        _ = commands.cli_gettext()
        commands.fail(_("sauvegarde : %(error)s", error=problem_of(err).said(_)))
    _ = commands.cli_gettext()
    click.echo(_("instantané %(id)s : %(files)s fichiers", id=snapshot.id, files=snapshot.files))


@backup.command("list", help=N_("Liste les instantanés."))
@click.pass_context
def backup_list(ctx: click.Context) -> None:
    """List the snapshots."""
    try:
        snapshots = _backups(ctx).snapshots()
    except BackupError as err:
        _ = commands.cli_gettext()
        commands.fail(_("sauvegarde : %(error)s", error=problem_of(err).said(_)))
    for snapshot in snapshots:
        click.echo(f"{snapshot.id}  {snapshot.time}")


@backup.command(
    "restore",
    help=N_("Remet l'espace pédagogique de PERSON, ou un seul PATH (fichier ou dossier)."),
)
@click.argument("person")
@click.argument("path", required=False, default="")
@click.option(
    "--snapshot", default="latest", show_default=True, help=N_("Identifiant de l'instantané.")
)
@click.pass_context
def backup_restore(ctx: click.Context, person: str, path: str, snapshot: str) -> None:
    """Put back PERSON's pedagogical space, or one PATH in it (file or folder)."""
    _ = commands.cli_gettext()
    try:
        count = _backups(ctx).restore(person, path, snapshot)
    except (BackupError, SpaceError) as err:
        _ = commands.cli_gettext()
        commands.fail(_("restauration : %(error)s", error=problem_of(err).said(_)))
    click.echo(_("%(count)s fichier(s) restauré(s)", count=count))


@click.group(
    "personnel",
    cls=PreauGroup,
    help=N_("Espaces PERSONNEL : le séquestre pour les réquisitions judiciaires."),
)
def personnel() -> None:
    """PERSONNEL spaces: the escrow for judicial requests."""


@personnel.command(
    "escrow-create",
    help=N_(
        "Partage une nouvelle clé de séquestre entre dépositaires ; affiche chaque part une fois."
    ),
)
@click.option(
    "--custodians", type=int, required=True, help=N_("Combien de dépositaires reçoivent une part.")
)
@click.option(
    "--threshold",
    type=int,
    required=True,
    help=N_("Combien de parts ouvrent un espace (au moins 2)."),
)
@click.pass_context
def personnel_escrow_create(ctx: click.Context, custodians: int, threshold: int) -> None:
    """Split a new escrow key between custodians; print each share once."""
    config = commands.config(ctx)
    commands.setup_logging(ctx, config)

    async def body(core: Core) -> list[str]:
        return await core.shared(ProductionsStore).create_escrow(custodians, threshold, actor="cli")

    try:
        shares = commands.with_core(config, ctx.obj["config_path"], body)
    except EscrowError as err:
        _ = commands.cli_gettext()
        commands.fail(_("séquestre : %(error)s", error=problem_of(err).said(_)))
    _ = commands.cli_gettext()
    click.echo(
        _(
            "Remettez chaque part à un dépositaire différent ; %(threshold)s parts sur "
            "%(custodians)s ouvrent un espace PERSONNEL. Elles ne seront plus affichées.",
            threshold=threshold,
            custodians=custodians,
        )
    )
    for number, share in enumerate(shares, start=1):
        heading = _("part %(number)s/%(count)s", number=number, count=custodians)
        click.echo(f"\n--- {heading} ---\n{share}")


@personnel.command(
    "escrow-open",
    help=N_(
        "Ouvre le PERSONNEL de PERSON avec les parts des dépositaires (une par ligne sur "
        "l'entrée standard)."
    ),
)
@click.argument("person")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help=N_("Fichier zip où écrire le PERSONNEL de PERSON."),
)
@click.pass_context
def personnel_escrow_open(ctx: click.Context, person: str, output: Path) -> None:
    """Open PERSON's PERSONNEL with custodians' shares (one per line on stdin)."""
    _ = commands.cli_gettext()
    config = commands.config(ctx)
    commands.setup_logging(ctx, config)
    shares = [line.strip() for line in sys.stdin if line.strip()]

    async def body(core: Core) -> None:
        store = core.shared(ProductionsStore)
        identity = await store.open_by_escrow(person, shares, actor="cli")
        with output.open("wb") as out:

            async def send(data: bytes | bytearray) -> None:
                out.write(data)

            await store.export_with_identity(person, identity, send)

    try:
        commands.with_core(config, ctx.obj["config_path"], body)
    except EscrowError as err:
        _ = commands.cli_gettext()
        commands.fail(_("séquestre : %(error)s", error=problem_of(err).said(_)))
    click.echo(_("PERSONNEL de %(person)s écrit dans %(output)s", person=person, output=output))


@click.group("classes", cls=PreauGroup, help=N_("Espaces des classes (Distribution, Rendus)."))
def classes_group() -> None:
    """Class areas (Distribution, Rendus)."""


@classes_group.command(
    "rollover",
    help=N_("Commence une nouvelle année : archive l'espace de chaque classe et clôt les devoirs."),
)
@click.option("--yes", is_flag=True, help=N_("Sans demander de confirmation."))
@click.pass_context
def classes_rollover(ctx: click.Context, yes: bool) -> None:
    """Start a new school year: archive every class area and close assignments."""
    _ = commands.cli_gettext()
    config = commands.config(ctx)
    commands.setup_logging(ctx, config)
    if not yes:
        click.confirm(_("Archiver les espaces de toutes les classes ?"), abort=True)

    async def body(core: Core) -> int:
        return await core.shared(ProductionsStore).roll_classes_over(actor="cli")

    moved = commands.with_core(config, ctx.obj["config_path"], body)
    click.echo(_("%(count)s classe(s) archivée(s)", count=moved))

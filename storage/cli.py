"""`preau backup …`, `preau personnel …`, `preau classes …`: the storage's commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from appliance import commands
from appliance.core import Core
from appliance.problems import problem_of
from storage.backup import BackupError, Backups
from storage.config import ProductionsConfig
from storage.escrow import EscrowError
from storage.personnel import SpaceError
from storage.store import ProductionsStore


@click.group("backup")
def backup() -> None:
    """Backups of the pedagogical spaces (restic; PERSONNEL is never backed up)."""


def _backups(ctx: click.Context) -> Backups:
    config = commands.config(ctx)
    commands.setup_logging(ctx, config)
    if not config.section(ProductionsConfig).backup.enabled:
        commands.fail("productions.backup.enabled is false: no repository configured")
    return Backups(config.section(ProductionsConfig).backup, config.site.data_dir)


@backup.command("run")
@click.pass_context
def backup_run(ctx: click.Context) -> None:
    """Back the pedagogical spaces up now."""
    try:
        snapshot = _backups(ctx).back_up()
    except BackupError as err:
        _ = commands.cli_gettext()
        commands.fail(_("sauvegarde : %(error)s", error=problem_of(err).said(_)))
    click.echo(f"instantané {snapshot.id} : {snapshot.files} fichiers")


@backup.command("list")
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


@backup.command("restore")
@click.argument("person")
@click.argument("path", required=False, default="")
@click.option("--snapshot", default="latest", show_default=True, help="Snapshot id.")
@click.pass_context
def backup_restore(ctx: click.Context, person: str, path: str, snapshot: str) -> None:
    """Put back PERSON's pedagogical space, or one PATH in it (file or folder)."""
    try:
        count = _backups(ctx).restore(person, path, snapshot)
    except (BackupError, SpaceError) as err:
        _ = commands.cli_gettext()
        commands.fail(_("restauration : %(error)s", error=problem_of(err).said(_)))
    click.echo(f"{count} fichier(s) restauré(s)")


@click.group("personnel")
def personnel() -> None:
    """PERSONNEL spaces: the escrow for judicial requests."""


@personnel.command("escrow-create")
@click.option("--custodians", type=int, required=True, help="How many custodians get a share.")
@click.option("--threshold", type=int, required=True, help="How many shares open a space (≥ 2).")
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
    click.echo(
        f"Remettez chaque part à un dépositaire différent ; {threshold} parts sur "
        f"{custodians} ouvrent un espace PERSONNEL. Elles ne seront plus affichées."
    )
    for number, share in enumerate(shares, start=1):
        click.echo(f"\n--- part {number}/{custodians} ---\n{share}")


@personnel.command("escrow-open")
@click.argument("person")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Zip file to write PERSON's PERSONNEL to.",
)
@click.pass_context
def personnel_escrow_open(ctx: click.Context, person: str, output: Path) -> None:
    """Open PERSON's PERSONNEL with custodians' shares (one per line on stdin)."""
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
    click.echo(f"PERSONNEL de {person} écrit dans {output}")


@click.group("classes")
def classes_group() -> None:
    """Class areas (Distribution, Rendus)."""


@classes_group.command("rollover")
@click.option("--yes", is_flag=True, help="Do it without asking.")
@click.pass_context
def classes_rollover(ctx: click.Context, yes: bool) -> None:
    """Start a new school year: archive every class area and close assignments."""
    config = commands.config(ctx)
    commands.setup_logging(ctx, config)
    if not yes:
        click.confirm("Archiver les espaces de toutes les classes ?", abort=True)

    async def body(core: Core) -> int:
        return await core.shared(ProductionsStore).roll_classes_over(actor="cli")

    moved = commands.with_core(config, ctx.obj["config_path"], body)
    click.echo(f"{moved} classe(s) archivée(s)")

"""`preau sync …`: the box's side of the link with the centre, from a shell."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from appliance import commands
from appliance.atomic import write_atomic
from appliance.cli_words import PreauGroup
from appliance.core import Core
from appliance.i18n import N_
from sync.credentials import CredentialError
from sync.device_export import DeviceExportError, Export, export_for
from sync.device_profiles import KINDS
from sync.inventory import glpi_inventory
from sync.link import LinkError, enrol, rotate_key
from sync.pra import back_up, read_pra, request_restore
from sync.pra_archive import PraError
from sync.service import site_report
from sync.state import read_link
from sync.trust import PolicyFetchError


@click.group(
    "sync", cls=PreauGroup, help=N_("Lien avec le centre de la collectivité (inscription, état).")
)
def sync_group() -> None:
    """The link with the collectivité's centre."""


@sync_group.command(
    "enrol", help=N_("Inscrit le boîtier avec le JETON du centre (« - » : lu sur l'entrée).")
)
@click.argument("token")
@click.pass_context
def enrol_command(ctx: click.Context, token: str) -> None:
    """Enrol the box with a token."""
    _ = commands.cli_gettext()
    config = commands.config(ctx)
    text = sys.stdin.read() if token == "-" else token  # noqa: S105 - "-" is stdin

    async def body(core: Core) -> str:
        try:
            link = await enrol(core, text, "cli", "cli")
        except (CredentialError, LinkError, PolicyFetchError) as err:
            commands.fail(err, 2)
        return link.box_id

    box_id = commands.with_core(config, ctx.obj["config_path"], body)
    click.echo(_("boîtier inscrit : %(box)s", box=box_id))


@sync_group.command("status", help=N_("Affiche l'état du lien (JSON)."))
@click.pass_context
def status_command(ctx: click.Context) -> None:
    """Print the link's state."""
    config = commands.config(ctx)

    async def body(core: Core) -> str:
        link = await read_link(core.db)
        shown = {
            "enrolled": link.enrolled, "box_id": link.box_id, "uai": link.uai,
            "revoked": link.revoked, "policy_version": link.policy_version,
            "policy_stale": link.policy_stale, "time_trusted": link.time_trusted,
            "last_exchange_at": link.last_exchange_at,
            "problem": link.last_error % link.last_error_values if link.last_error else "",
            "policy_problem": link.policy_problem % link.policy_problem_values
            if link.policy_problem
            else "",
        }  # fmt: skip
        return json.dumps(shown, ensure_ascii=False, indent=1)

    click.echo(commands.with_core(config, ctx.obj["config_path"], body, reads_only=True))


@sync_group.command("rotate-key", help=N_("Donne au boîtier une nouvelle paire de clés."))
@click.pass_context
def rotate_command(ctx: click.Context) -> None:
    """Rotate the box's key."""
    _ = commands.cli_gettext()
    config = commands.config(ctx)

    async def body(core: Core) -> None:
        try:
            await rotate_key(core, "cli", "cli")
        except LinkError as err:
            commands.fail(err, 2)

    commands.with_core(config, ctx.obj["config_path"], body)
    click.echo(_("nouvelle clé acceptée par le centre"))


def _ask_centre(ctx: click.Context, exchange: Callable[[Core], Awaitable[str]]) -> str:
    """Run one exchange with the centre on an opened core; a refusal ends the command."""
    config = commands.config(ctx)

    async def body(core: Core) -> str:
        try:
            return await exchange(core)
        except (LinkError, PraError, CredentialError) as err:
            commands.fail(err, 2)

    return commands.with_core(config, ctx.obj["config_path"], body)


@sync_group.command(
    "backup",
    help=N_(
        "Envoie maintenant au centre la sauvegarde de remplacement (chiffrée pour la clé hors"
        " ligne de la collectivité ; chaque nuit sinon)."
    ),
)
@click.pass_context
def backup_command(ctx: click.Context) -> None:
    """Send the replacement backup now."""

    async def exchange(core: Core) -> str:
        await back_up(core)
        return str((await read_pra(core)).backup_bytes)

    size = _ask_centre(ctx, exchange)
    _ = commands.cli_gettext()
    click.echo(_("sauvegarde de remplacement envoyée : %(bytes)s octets", bytes=size))


@sync_group.command(
    "restore",
    help=N_(
        "Demande au centre la dernière sauvegarde de l'établissement (boîtier de remplacement) ;"
        " elle est restaurée dès que l'équipe centrale l'a libérée (preau-central pra-release)."
    ),
)
@click.pass_context
def restore_command(ctx: click.Context) -> None:
    """Ask the centre for the school's latest replacement backup."""

    async def exchange(core: Core) -> str:
        await request_restore(core, "cli", "cli")
        return (await read_link(core.db)).box_id

    box_id = _ask_centre(ctx, exchange)
    _ = commands.cli_gettext()
    click.echo(
        _("demande envoyée : l'équipe centrale lance « preau-central pra-release %(box)s »",
          box=box_id)
    )  # fmt: skip


@sync_group.command("report", help=N_("Affiche le rapport de site que reçoit le centre (JSON)."))
@click.pass_context
def report_command(ctx: click.Context) -> None:
    """Print the site report."""
    config = commands.config(ctx)

    async def body(core: Core) -> str:
        report = await site_report(core, await read_link(core.db), time.time())
        return report.model_dump_json(by_alias=True, indent=1)

    click.echo(commands.with_core(config, ctx.obj["config_path"], body))


@sync_group.command(
    "profile",
    help=N_(
        "Écrit le fichier à importer dans le MDM pour TYPE d'appareils (apple : .mobileconfig, "
        "android, windows : JSON) dans FICHIER (« - » : la sortie)."
    ),
)
@click.argument("kind", type=click.Choice(KINDS), metavar="TYPE")
@click.argument(
    "output", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True), metavar="FICHIER"
)
@click.pass_context
def profile_command(ctx: click.Context, kind: str, output: Path) -> None:
    """Write the export of KIND for the MDM."""
    _ = commands.cli_gettext()
    config = commands.config(ctx)

    async def body(core: Core) -> Export:
        try:
            return await export_for(core, kind, "", "cli", "cli")
        except DeviceExportError as err:
            commands.fail(err, 2)

    export = commands.with_core(config, ctx.obj["config_path"], body)
    if str(output) == "-":
        sys.stdout.buffer.write(export.body)
        sys.stdout.buffer.flush()
        return
    write_atomic(output, export.body, mode=0o600)  # it may hold the Wi-Fi passphrase
    click.echo(_("écrit : %(path)s", path=str(output)), err=True)


@sync_group.command(
    "inventory", help=N_("Affiche la fiche du boîtier au format d'inventaire de GLPI (JSON).")
)
@click.pass_context
def inventory_command(ctx: click.Context) -> None:
    """Print the box's GLPI inventory."""
    config = commands.config(ctx)

    async def body(core: Core) -> str:
        link = await read_link(core.db)
        inventory = await core.executor.run(glpi_inventory, core.config, link.box_id)
        return json.dumps(inventory, ensure_ascii=False, indent=1)

    click.echo(commands.with_core(config, ctx.obj["config_path"], body))

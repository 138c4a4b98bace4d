"""`preau update …`: install a signed system update, and the gate that keeps or reverts it.

``install`` and ``gate`` run as root (RAUC writes slots and GRUB's
environment; the gate reboots): call the venv's ``preau`` directly, not the
``/usr/bin/preau`` wrapper, which drops to the ``preau`` user. Neither opens
the state DB as root (its files would become root's): they keep their
records in :mod:`updates.record`'s folder and have ``preau update record``,
run as ``preau``, copy the outcomes into the DB and the centre's outbox.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Final

import click

from appliance import commands
from appliance.cli_words import PreauGroup
from appliance.config import PreauConfig
from appliance.core import Core
from appliance.i18n import N_
from appliance.problems import UserError
from appliance.scheduler.calendar import calendar_from_config, next_opening, window_from_config
from updates import preflight, rauc, record
from updates.config import UpdatesConfig
from updates.gate import probes_for, run_gate

PREAU: Final = "/usr/lib/preau/venv/bin/preau"
# A verity bundle is installed from where it lies: nothing is unpacked on /var.
UNPACK_BYTES: Final = 0


@click.group(
    "update", cls=PreauGroup, help=N_("Mises à jour du système du boîtier (A/B, signées).")
)
def update_group() -> None:
    """System updates of the box."""


def _must_be_root() -> None:
    if os.geteuid() != 0:
        commands.fail(UserError(N_("Cette commande se lance en root (sudo).")), 2)


def _window_check(config: PreauConfig, now: dt.datetime) -> None:
    """Refuse outside the nightly maintenance window or during lessons."""
    scheduler = config.scheduler
    # Closed days from the state DB only open more hours; without them the
    # check is stricter, never looser, and root never opens the DB.
    calendar = calendar_from_config(scheduler, config.site.zone)
    opening = next_opening(window_from_config(scheduler.nightly), calendar, now)
    preflight.check_window(opening, now)


@update_group.command(
    "install",
    help=N_(
        "Installe la mise à jour signée FICHIER dans l'emplacement inactif, puis redémarre "
        "(en fenêtre de maintenance, ou tout de suite avec --now)."
    ),
)
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--now", is_flag=True, help=N_("Sans attendre la fenêtre de maintenance."))
@click.option("--no-reboot", is_flag=True, help=N_("Ne redémarre pas."))
@click.pass_context
def install_command(ctx: click.Context, bundle: Path, now: bool, no_reboot: bool) -> None:
    """Install a signed bundle to the other slot."""
    _must_be_root()
    config = commands.config(ctx)
    _ = commands.cli_gettext()
    try:
        if not now:
            _window_check(config, dt.datetime.now(dt.UTC))
        try:
            size = bundle.stat().st_size
        except OSError as err:
            raise UserError(
                N_("Fichier de mise à jour illisible : %(path)s"), path=str(bundle)
            ) from err
        # The bundle already lies on the box: what it still needs is its unpacking.
        free = shutil.disk_usage(record.UPDATE_DIR.parent).free
        preflight.check_space(free, 0 if _on_data(bundle) else size, UNPACK_BYTES)
        commands.run(_install(bundle))
    except UserError as err:
        commands.fail(err, 2)
    if no_reboot:
        click.echo(_("Mise à jour écrite ; elle prendra effet au prochain redémarrage."))
        return
    click.echo(_("Mise à jour écrite ; le boîtier redémarre sur le nouveau système."))
    subprocess.run(["systemctl", "reboot"], check=False)


def _on_data(path: Path) -> bool:
    return path.stat().st_dev == record.UPDATE_DIR.parent.stat().st_dev


def _block_bytes(device: Path) -> int:
    """Return the size of the block device DEVICE (a slot's partition)."""
    name = device.resolve().name
    return int(Path(f"/sys/class/block/{name}/size").read_text()) * 512


async def _install(bundle: Path) -> None:
    status = await rauc.status()
    info = await rauc.verify(bundle)
    preflight.check_slot(info.image_bytes, _block_bytes(Path(status.other.device)))
    current = status.slot(status.booted)
    record.write_pending(
        record.Pending(
            to_slot=status.other.bootname,
            to_version=info.version,
            from_slot=status.booted,
            from_version=current.version,
            started=time.time(),
        )
    )
    try:
        await rauc.install(bundle)
    except rauc.RaucError as err:
        record.clear_pending()
        record.write_outcome(record.Outcome("failed", info.version, current.version, str(err)))
        raise


@update_group.command(
    "gate",
    help=N_(
        "Vérifie le système démarré (web, DNS, portail) ; le garde s'il répond, sinon revient "
        "à l'autre emplacement (lancé à chaque démarrage)."
    ),
)
@click.pass_context
def gate_command(ctx: click.Context) -> None:
    """Keep the booted slot if it is healthy, or go back to the other one."""
    _must_be_root()
    config = commands.config(ctx)
    _ = commands.cli_gettext()
    seconds = float(config.section(UpdatesConfig).gate_seconds)
    try:
        verdict = commands.run(_gate(config, seconds))
    except (rauc.RaucError, OSError) as err:
        # Nothing marked: GRUB's three tries still bring back the old slot.
        commands.fail(err, 1)
    _record_as_preau(ctx)
    click.echo(_(verdict))
    if verdict == GATE_REVERTING:
        subprocess.run(["systemctl", "reboot"], check=False)
        raise SystemExit(1)


GATE_KEPT: Final = N_("Système gardé : il répond.")
GATE_REVERTING: Final = N_("Le nouveau système ne répond pas : retour à l'ancien.")
GATE_UNHEALTHY: Final = N_("Le système ne répond pas entièrement (voir le journal).")


def came_back(pending: record.Pending, status: rauc.Status) -> record.Outcome:
    """Say why the box runs its old slot while an update was pending."""
    written = status.slot(pending.to_slot).installed_at
    if pending.gate_failure:
        reason, outcome = pending.gate_failure, "reverted"
    elif written is None or written < pending.started:
        # RAUC never finished writing: the power went, or the box was stopped.
        reason, outcome = N_("la mise à jour a été interrompue avant la fin"), "failed"
    else:
        reason, outcome = N_("le nouveau système n'a pas démarré en trois essais"), "reverted"
    return record.Outcome(outcome, pending.to_version, pending.from_version, reason)


async def _gate(config: PreauConfig, seconds: float) -> str:
    status = await rauc.status()
    pending = record.read_pending()
    if pending is not None and pending.to_slot != status.booted:
        record.write_outcome(came_back(pending, status))
        record.clear_pending()
        pending = None
    loop = asyncio.get_running_loop()
    failures = await run_gate(probes_for(config), loop.time, asyncio.sleep, seconds)
    if not failures:
        await rauc.mark("good")
        if pending is not None:
            record.write_outcome(
                record.Outcome("committed", pending.to_version, pending.from_version)
            )
            record.clear_pending()
        return GATE_KEPT
    reason = "; ".join(sorted(failures.values()))
    if pending is None:
        # A slot already kept: going back to an older one would not mend a
        # box whose trouble is its settings or its network.
        await rauc.mark("good")
        return GATE_UNHEALTHY
    record.write_pending(
        record.Pending(
            pending.to_slot,
            pending.to_version,
            pending.from_slot,
            pending.from_version,
            pending.started,
            gate_failure=reason,
        )
    )
    await rauc.mark("bad")
    return GATE_REVERTING


def _record_as_preau(ctx: click.Context) -> None:
    """Have ``preau update record`` copy the outcomes into the state DB, as ``preau``."""
    path: Path | None = ctx.obj["config_path"]
    words = [PREAU if Path(PREAU).exists() else "preau"]
    if path is not None:
        words += ["--config", str(path)]
    subprocess.run(["runuser", "-u", "preau", "--", *words, "update", "record"], check=False)


@update_group.command(
    "record",
    help=N_("Enregistre l'issue des mises à jour (journal, centre) ; lancé par le contrôle."),
)
@click.pass_context
def record_command(ctx: click.Context) -> None:
    """Copy update outcomes into the state DB and the outbox."""
    config = commands.config(ctx)

    async def body(core: Core) -> int:
        return await record.import_outcomes(core)

    commands.with_core(config, ctx.obj["config_path"], body)


@update_group.command(
    "status", help=N_("Affiche les emplacements du système et la version de chacun.")
)
def status_command() -> None:
    """Show the slots."""
    _ = commands.cli_gettext()
    status = commands.run(rauc.status())
    for slot in status.slots:
        marks = []
        if slot.booted:
            marks.append(_("démarré"))
        if slot.bootname == status.primary:
            marks.append(_("prochain démarrage"))
        if slot.boot_good is False and slot.version:
            marks.append(_("écarté"))
        click.echo(f"{slot.bootname} {slot.version or '-'} {' '.join(marks)}")

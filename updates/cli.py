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
import subprocess
import time
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Final

import click

from appliance import commands
from appliance.cli_words import PreauGroup
from appliance.config import PreauConfig
from appliance.core import Core
from appliance.digests import file_sha256
from appliance.i18n import N_
from appliance.problems import UserError, problem_of
from appliance.scheduler.calendar import calendar_from_config, next_opening, window_from_config
from appliance.services import unit_services
from updates import approval, offered, preflight, rauc, record
from updates.config import VERSION, UpdatesConfig
from updates.gate import probes_for, run_gate, unit_restarts

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
    try:
        with offered.exclusive(config.section(UpdatesConfig).folder):
            _install_checked(config, bundle, now)
    except UserError as err:
        commands.fail(err, 2)
    _reboot(no_reboot)


def _install_checked(config: PreauConfig, bundle: Path, now: bool) -> None:
    """Check the window (unless NOW) and the space, then write BUNDLE to the other slot."""
    folder = config.section(UpdatesConfig).folder
    if not now:
        _window_check(config, dt.datetime.now(dt.UTC))
    try:
        found = bundle.stat()
    except OSError as err:
        raise UserError(
            N_("Fichier de mise à jour illisible : %(path)s"), path=str(bundle)
        ) from err
    # A bundle already on the data partition needs no more room than its unpacking.
    on_data = found.st_dev == offered.place(folder).stat().st_dev
    preflight.check_space(offered.free_bytes(folder), 0 if on_data else found.st_size, UNPACK_BYTES)
    commands.run(_install(bundle, config.section(UpdatesConfig)))


def _reboot(no_reboot: bool) -> None:
    _ = commands.cli_gettext()
    if no_reboot:
        click.echo(_("Mise à jour écrite ; elle prendra effet au prochain redémarrage."))
        return
    click.echo(_("Mise à jour écrite ; le boîtier redémarre sur le nouveau système."))
    subprocess.run(["systemctl", "reboot"], check=False)


@update_group.command(
    "offer",
    help=N_(
        "Propose la mise à jour signée FICHIER au boîtier : elle est vérifiée et copiée, "
        "puis attend d'être approuvée (référent ou centre)."
    ),
)
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def offer_command(ctx: click.Context, bundle: Path) -> None:
    """Verify a bundle and keep it for approval."""
    _must_be_root()
    config = commands.config(ctx)
    _ = commands.cli_gettext()
    folder = config.section(UpdatesConfig).folder
    try:
        with offered.exclusive(folder):
            offer = _offer(bundle, config.section(UpdatesConfig))
    except UserError as err:
        commands.fail(err, 2)
    _say_offered(offer)


def _say_offered(offer: approval.Offer) -> None:
    _ = commands.cli_gettext()
    click.echo(
        _(
            "Mise à jour %(version)s proposée ; elle attend l'approbation du référent (page "
            "« Mises à jour du système ») ou du centre.",
            version=offer.version,
        )
    )


def _offer(bundle: Path, section: UpdatesConfig) -> approval.Offer:
    folder = section.folder
    try:
        size = bundle.stat().st_size
    except OSError as err:
        raise UserError(
            N_("Fichier de mise à jour illisible : %(path)s"), path=str(bundle)
        ) from err
    # Verified where it lies, before a byte is copied: a wrong signature costs no space.
    info = commands.run(rauc.verify(bundle, section.rauc_conf))
    if not VERSION.match(info.version):
        raise UserError(
            N_("Mise à jour refusée : sa version « %(version)s » n'est pas lisible."),
            version=info.version[:64],
        )
    offered.clear_offer(folder)  # the bundle it replaces frees its room first
    preflight.check_space(offered.free_bytes(folder), size, UNPACK_BYTES)
    sha256 = offered.copy_bundle(bundle, folder)
    offer = approval.Offer(info.version, sha256, size, info.compatible, time.time())
    offered.write_offer(offer, folder)
    return offer


@update_group.command(
    "fetch",
    help=N_(
        "Télécharge la nouvelle version annoncée par la source des mises à jour, la vérifie "
        "et la propose (sans l'installer)."
    ),
)
@click.pass_context
def fetch_command(ctx: click.Context) -> None:
    """Download the source's new version and offer it."""
    _must_be_root()
    config = commands.config(ctx)
    _ = commands.cli_gettext()
    section = config.section(UpdatesConfig)
    if section.source_url is None:
        click.echo(_("Aucune source de mises à jour configurée."))
        return
    # Imported here: aiohttp's client is two fifths of the start of every other
    # `preau update` command, the gate's among them, on a box that is booting.
    from updates import fetch

    try:
        with offered.exclusive(section.folder):
            offer = commands.run(fetch.fetch_offer(section, package_version("preau")))
    except UserError as err:
        commands.fail(err, 1)
    if offer is None:
        click.echo(_("Pas de nouvelle version."))
        return
    _say_offered(offer)


@update_group.command(
    "apply",
    help=N_(
        "Installe la mise à jour proposée si elle est approuvée et que la fenêtre de "
        "maintenance est ouverte (lancé régulièrement par un minuteur)."
    ),
)
@click.option("--now", is_flag=True, help=N_("Sans attendre la fenêtre de maintenance."))
@click.option("--no-reboot", is_flag=True, help=N_("Ne redémarre pas."))
@click.pass_context
def apply_command(ctx: click.Context, now: bool, no_reboot: bool) -> None:
    """Install the offered bundle once approved, in the maintenance window."""
    _must_be_root()
    config = commands.config(ctx)
    _ = commands.cli_gettext()
    folder = config.section(UpdatesConfig).folder
    with offered.exclusive(folder):
        said, written = _apply(config, folder, now)
    click.echo(said)
    if written:
        _reboot(no_reboot)


def _apply(config: PreauConfig, folder: Path, now: bool) -> tuple[str, bool]:
    """Install the offered bundle if it may go now; return what to say, and if it was."""
    _ = commands.cli_gettext()
    offer = offered.read_offer(folder)
    if offer is None:
        return _("Aucune mise à jour proposée."), False
    if record.read_pending(folder) is not None:
        # The booted slot is still proving itself (its gate runs): the next waits.
        return _("Une mise à jour est encore en vérification ; celle-ci attend."), False
    try:
        by = approval.check_approved(
            offer,
            offered.read_approval(config.site.data_dir),
            config.section(UpdatesConfig).approved_versions,
        )
        _check_unchanged(offer, folder)
        _install_checked(config, folder / offered.BUNDLE, now)
    except preflight.UpdateRefused as err:
        # Not yet (no approval, or lessons): the timer asks again; not a failure.
        return problem_of(err).said(_), False
    except UserError as err:
        commands.fail(err, 2)
    # The slot holds it now: its room on the data partition goes back to the school.
    offered.clear_offer(folder)
    offered.clear_approval(config.site.data_dir)
    said = _(
        "Mise à jour %(version)s approuvée par %(by)s.",
        version=offer.version,
        by=_(APPROVED_BY[by]),
    )
    return said, True


def _check_unchanged(offer: approval.Offer, folder: Path) -> None:
    """Refuse, and drop, an offered file that is no longer the one verified and approved."""
    if file_sha256(folder / offered.BUNDLE) != offer.sha256:
        offered.clear_offer(folder)
        raise UserError(N_("Le fichier proposé a changé depuis sa vérification ; il est écarté."))


APPROVED_BY: Final = {"referent": N_("le référent"), "centre": N_("le centre")}


def _block_bytes(device: Path) -> int:
    """Return the size of the block device DEVICE (a slot's partition)."""
    name = device.resolve().name
    return int(Path(f"/sys/class/block/{name}/size").read_text()) * 512


async def _install(bundle: Path, section: UpdatesConfig) -> None:
    folder = section.folder
    status = await rauc.status()
    info = await rauc.verify(bundle, section.rauc_conf)
    preflight.check_slot(info.image_bytes, _block_bytes(Path(status.other.device)))
    current = status.slot(status.booted)
    record.write_pending(
        record.Pending(
            to_slot=status.other.bootname,
            to_version=info.version,
            from_slot=status.booted,
            from_version=current.version,
            started=time.time(),
        ),
        folder,
    )
    try:
        await rauc.install(bundle)
    except rauc.RaucError as err:
        record.clear_pending(folder)
        outcome = record.Outcome("failed", info.version, current.version, str(err))
        record.write_outcome(outcome, folder)
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
    folder = config.section(UpdatesConfig).folder
    status = await rauc.status()
    pending = record.read_pending(folder)
    if pending is not None and pending.to_slot != status.booted:
        record.write_outcome(came_back(pending, status), folder)
        record.clear_pending(folder)
        pending = None
    loop = asyncio.get_running_loop()
    units = [f"preau-{unit}.service" for unit in unit_services()]
    failures = await run_gate(
        probes_for(config), loop.time, asyncio.sleep, seconds, lambda: unit_restarts(units)
    )
    if not failures:
        await rauc.mark("good")
        if pending is not None:
            committed = record.Outcome("committed", pending.to_version, pending.from_version)
            record.write_outcome(committed, folder)
            record.clear_pending(folder)
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
        ),
        folder,
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

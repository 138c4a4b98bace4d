"""The `preau` command line.

Every command loads the one config file (``--config``, default
/etc/preau/preau.toml), reports problems as one clear line naming the file and
the key, and exits non-zero on failure.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from appliance import commands
from appliance.assembly import create_services
from appliance.atomic import write_atomic
from appliance.cli_words import PreauGroup
from appliance.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    PreauConfig,
    demo_config,
    load_config,
)
from appliance.config_overlay import revert_overlay
from appliance.config_render import render_config, render_defaults
from appliance.core import Core, run_until_signalled
from appliance.features import installed_features
from appliance.i18n import N_
from appliance.scheduler.calendar import CalendarError, holidays_from_ics
from appliance.services import UnknownServiceError, service_names

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")


@click.group(
    cls=PreauGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=N_("Préau, le boîtier de l'établissement scolaire."),
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=N_(
        "Fichier de configuration (par défaut /etc/preau/preau.toml ; réglages intégrés "
        "s'il est absent)."
    ),
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    default=None,
    help=N_("Remplace logging.level de la configuration."),
)
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, log_level: str | None) -> None:
    """Préau, the school-site appliance."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    ctx.obj["log_level"] = log_level


@main.command(
    help=N_(
        "Lance les SERVICES (par défaut : tous, dans ce processus). Une unité systemd en "
        "lance un ; le filtre, le portail et le cache seulement s'ils sont activés dans la "
        "configuration. La liste : preau services."
    )
)
@click.argument("services", nargs=-1)
@click.pass_context
def run(ctx: click.Context, services: tuple[str, ...]) -> None:
    """Run SERVICES (default: all of them in this process)."""
    _ = commands.cli_gettext()
    config = commands.config(ctx)
    commands.setup_logging(ctx, config)
    core = Core(config, ctx.obj["config_path"])
    try:
        chosen = create_services(core, services)
    except UnknownServiceError as err:
        commands.fail(err, 2)
    try:
        restart = commands.run(run_until_signalled(core, chosen))
    except Exception as err:
        # A config overlay on trial that the services cannot start on is undone.
        if revert_overlay(config.site.data_dir):
            _LOGGER.exception("Services did not start on the new config overlay: reverted")
            restart = True
        elif isinstance(err, OSError):
            commands.fail(_("démarrage impossible : %(error)s", error=err))
        else:
            raise
    if restart:
        # A new config overlay: start again as the same process (same PID for systemd).
        os.execv(sys.executable, [sys.executable, "-m", "appliance", *sys.argv[1:]])


@main.group(help=N_("Vérifier ou afficher la configuration."))
def config() -> None:
    """Check or print the configuration."""


@config.command(
    "check", help=N_("Vérifie FICHIER (par défaut : --config) et les fichiers qu'il désigne.")
)
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def config_check(ctx: click.Context, file: Path | None) -> None:
    """Validate FILE (default: --config) and the files it points to."""
    path = file or ctx.obj["config_path"] or DEFAULT_CONFIG_PATH
    try:
        loaded = load_config(path)
    except ConfigError as err:
        commands.fail(err, 2)
    problems = list(_referenced_file_problems(loaded, path))
    if problems:
        commands.fail("\n".join(problems), 2)
    click.echo(f"OK: {path}")


def _referenced_file_problems(config: PreauConfig, source: Path) -> list[str]:
    _ = commands.cli_gettext()
    problems = []
    ics = config.scheduler.holidays_ics
    if ics is not None:
        try:
            holidays_from_ics(ics.read_bytes(), str(ics))
        except OSError as err:
            problems.append(f"{source}: scheduler.holidays_ics: {ics}: {err.strerror}")
        except CalendarError as err:
            problems.append(f"{source}: scheduler.holidays_ics : {err}")
    ldap = config.identity.ldap
    for key, file in (
        ("identity.ldap.ca_file", ldap.ca_file),
        ("identity.ldap.bind_password_file", ldap.bind_password_file),
        ("web.tls_cert", config.web.tls_cert),
        ("web.tls_key", config.web.tls_key),
    ):
        if file is not None and not file.is_file():
            problems.append(
                _("%(source)s : %(key)s : %(file)s : fichier introuvable",
                  source=source, key=key, file=file)
            )  # fmt: skip
    if (config.web.tls_cert is None) != (config.web.tls_key is None):
        problems.append(_("%(source)s : web.tls_cert et web.tls_key vont ensemble", source=source))
    if ldap.enabled and not ldap.bind_dn:
        problems.append(
            _("%(source)s : identity.ldap.bind_dn : obligatoire quand ldap est activé",
              source=source)
        )  # fmt: skip
    return problems


@config.command("defaults", help=N_("Affiche la configuration par défaut, commentée."))
def config_defaults() -> None:
    """Print the fully commented default configuration."""
    click.echo(render_defaults(), nl=False)


@config.command(
    "demo-file",
    help=N_("Affiche (ou écrit) la configuration de démonstration, données sous DATA_DIR."),
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help=N_("Dossier des données de la démonstration."),
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=N_("Écrit le fichier ici (de façon atomique) au lieu de l'afficher."),
)
def config_demo_file(data_dir: Path, output: Path | None) -> None:
    """Print (or write) the demo configuration, with data under DATA_DIR."""
    text = render_config(
        demo_config(data_dir.resolve()),
        "Préau demo configuration: local accounts, loopback only.\n"
        "Written by ./dev demo; edit freely.",
    )
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_atomic(output, text)
    except OSError as err:
        commands.fail(f"{output}: {err.strerror}")


@main.command(
    help=N_("Crée l'établissement de démonstration et affiche ses mots de passe une fois.")
)
@click.option(
    "--reset-passwords",
    is_flag=True,
    help=N_("Donne un nouveau mot de passe à chaque compte de démonstration."),
)
@click.pass_context
def demo(ctx: click.Context, reset_passwords: bool) -> None:
    """Seed the demo school and print its passwords once."""
    from appliance.demo import demo_people, seed_demo

    config = commands.config(ctx)
    count = len(demo_people(config.site.schools[0].uai))

    _ = commands.cli_gettext()

    async def body(core: Core) -> None:
        label = _("Comptes de démo")
        with click.progressbar(length=count, label=label, file=sys.stderr) as bar:
            accounts = await seed_demo(core, reset_passwords=reset_passwords, progress=bar.update)
        if accounts is None:
            click.echo(
                _(
                    "Démo déjà initialisée. Mots de passe oubliés ? %(command)s",
                    command=commands.rerun_hint(ctx, "demo --reset-passwords"),
                )
            )
            return
        click.echo(_("Comptes de démonstration (affichés une seule fois) :"))
        login, role, group = _("identifiant"), _("profil"), _("classe")
        password = _("mot de passe")  # not inside the f-string: Babel reads it on every Python
        click.echo(f"{login:<14} {role:<9} {group:<6} {password}")
        for account in accounts:
            person = account.person
            click.echo(
                f"{person.id:<14} {person.role:<9} {person.class_name or '-':<6} {account.password}"
            )

    commands.with_core(config, ctx.obj["config_path"], body)


@main.group(help=N_("Tâches de maintenance et leurs créneaux."))
def jobs() -> None:
    """Maintenance jobs and their windows."""


@jobs.command("list", help=N_("Montre chaque tâche, son créneau et sa prochaine exécution."))
@click.pass_context
def jobs_list(ctx: click.Context) -> None:
    """Show every job, its window and its next run."""
    from appliance.scheduler.jobs import builtin_jobs, plan

    config = commands.config(ctx)
    zone = config.site.zone

    _ = commands.cli_gettext()

    async def body(core: Core) -> None:
        planned = await plan(core, builtin_jobs(core), dt.datetime.now(zone))
        task, kind, window_label = _("tâche"), _("classe"), _("fenêtre")
        next_label, last_label = _("prochaine exécution"), _("dernière réussite")
        click.echo(f"{task:<20} {kind:<8} {window_label:<28} {next_label:<22} {last_label}")
        for job in planned:
            cfg_window = (
                getattr(config.scheduler, job.spec.job_class)
                if job.spec.job_class != "urgent"
                else None
            )
            window = (
                f"{cfg_window.hours} {','.join(cfg_window.days)}"
                if cfg_window is not None
                else _("hors cours")
            )
            next_run = (
                job.next_run.at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
                if job.next_run
                else _("aucune dans les 400 jours")
            )
            last = (
                job.last_success.astimezone(zone).strftime("%Y-%m-%d %H:%M")
                if job.last_success
                else "-"
            )
            click.echo(
                f"{job.spec.id:<20} {job.spec.job_class:<8} {window:<28} {next_run:<22} {last}"
            )

    try:
        commands.with_core(config, ctx.obj["config_path"], body, reads_only=True)
    except ValueError as err:
        commands.fail(err, 2)


@main.group(help=N_("La base d'état de la boîte."))
def state() -> None:
    """The box's state database."""


@state.command(
    "migrate", help=N_("Applique les migrations de la base d'état et affiche sa version.")
)
@click.pass_context
def state_migrate(ctx: click.Context) -> None:
    """Bring the state DB to this version's schema (the package's postinst runs it)."""
    config = commands.config(ctx)
    _ = commands.cli_gettext()

    async def body(core: Core) -> None:
        version = await core.db.version()
        click.echo(_("Base d'état à la version {version}.").format(version=version))

    commands.with_core(config, ctx.obj["config_path"], body)


@main.group("first-run", help=N_("La première mise en service d'un boîtier installé."))
def first_run() -> None:
    """The first run of an installed box."""


@first_run.command(
    "begin",
    help=N_(
        "Met le boîtier en attente de sa première mise en service et affiche un code "
        "d'installation neuf (le paquet le fait à l'installation)."
    ),
)
@click.pass_context
def first_run_begin(ctx: click.Context) -> None:
    """Open the first run and print a fresh install code."""
    from appliance.first_run import state as first_run_state

    config = commands.config(ctx)
    _ = commands.cli_gettext()

    async def body(core: Core) -> str | None:
        return await first_run_state.begin(core.db)

    code = commands.with_core(config, ctx.obj["config_path"], body)
    if code is None:
        click.echo(_("Ce boîtier a déjà été mis en service."))
        return
    port = config.web.port
    click.echo(_("Première mise en service : ouvrez http://ADRESSE-DU-BOITIER:{port}/ depuis le "
                 "réseau d'administration.").format(port=port))  # fmt: skip
    click.echo(_("Code d'installation : {code}").format(code=code))


@main.group(help=N_("L'annuaire des personnes."))
def directory() -> None:
    """The identity directory."""


@directory.command(
    "sync", help=N_("Copie maintenant les personnes, classes et groupes de l'annuaire LDAP.")
)
@click.pass_context
def directory_sync(ctx: click.Context) -> None:
    """Copy people, classes and groups from the LDAP directory now."""
    config = commands.config(ctx)
    commands.setup_logging(ctx, config)
    _ = commands.cli_gettext()

    async def body(core: Core) -> None:
        bar_holder: dict[str, Any] = {}

        def progress(done: int, total: int) -> None:
            bar = bar_holder.get("bar")
            if bar is None:
                bar = bar_holder["bar"] = click.progressbar(
                    length=total, label=_("Synchronisation"), file=sys.stderr
                )
                bar.__enter__()
            bar.update(1)

        try:
            report = await core.directory.sync(progress)
        finally:
            if "bar" in bar_holder:
                bar_holder["bar"].__exit__(None, None, None)
        click.echo(
            _(
                "%(people)s personnes, %(groups)s groupes, %(departed)s départs, "
                "%(returned)s retours",
                people=report.people,
                groups=report.groups,
                departed=report.departed,
                returned=report.returned,
            )
        )

    commands.with_core(config, ctx.obj["config_path"], body)


@main.group(help=N_("Comptes locaux (petites écoles sans annuaire, premier référent)."))
def user() -> None:
    """Local accounts (small schools without a directory, first referent)."""


@user.command("add", help=N_("Crée (ou remplace) le compte local LOGIN."))
@click.argument("login")
@click.option(
    "--role",
    type=click.Choice(["pupil", "teacher", "staff", "referent"]),
    required=True,
    help=N_("Profil : élève (pupil), enseignant (teacher), personnel (staff) ou référent."),
)
@click.option("--name", "display_name", required=True, help=N_("Nom affiché dans l'interface."))
@click.option("--class", "class_name", default="", help=N_("Classe (élèves), par ex. 6A."))
@click.option(
    "--school", default="", help=N_("Code UAI de l'établissement (par défaut : le premier).")
)
@click.password_option(prompt=N_("Mot de passe"), help=N_("Demandé s'il n'est pas donné."))
@click.pass_context
def user_add(
    ctx: click.Context,
    login: str,
    role: str,
    display_name: str,
    class_name: str,
    school: str,
    password: str,
) -> None:
    """Create (or replace) the local account LOGIN."""
    _ = commands.cli_gettext()
    from appliance.identity.model import Person
    from appliance.identity.passwords import PasswordPolicyError

    config = commands.config(ctx)
    known = [s.uai for s in config.site.schools]
    school = school or known[0]
    if school not in known:
        commands.fail(
            _(
                "--school : %(school)s n'est pas dans site.schools (%(known)s)",
                school=school,
                known=", ".join(known),
            ),
            2,
        )
    person = Person(
        id=login.strip(),
        source="local",
        display_name=display_name,
        role=role,  # type: ignore[arg-type]
        school_uai=school,
        class_name=class_name,
    )

    async def body(core: Core) -> None:
        await core.directory.add_local_person(person, password)
        await core.audit.record(
            actor="cli", source="local", action="user.add", target=person.id, outcome="success"
        )

    try:
        commands.with_core(config, ctx.obj["config_path"], body)
    except PasswordPolicyError as err:
        commands.fail(err, 2)
    click.echo(f"OK: {person.id} ({role})")


@main.command("services", help=N_("Liste les services que preau run connaît."))
def list_services() -> None:
    """List the services `preau run` knows."""
    for name in service_names():
        click.echo(name)


# Imported only when they run (see PreauGroup.later): most processes never do.
main.later["timetable"] = "appliance.scheduler.cli:timetable"
cast(PreauGroup, user).later["second-factor-reset"] = (
    "appliance.identity.second_factor_cli:second_factor_reset"
)
cast(PreauGroup, directory).later.update(
    {
        "import-sts": "appliance.identity.cli:import_sts",
        "import-file": "appliance.identity.cli:import_file",
    }
)


def _register_feature_commands() -> None:
    for feature in installed_features():
        main.later.update(feature.commands)


_register_feature_commands()

"""`preau-central …`: the collectivité's central team's tool.

It keeps a central directory (``--dir``): the keys, the signed repository
nginx serves, and the intake's files. Commands: create the repository and its
keys, mint an enrolment token for a school, publish a bundle for every site,
a group of sites or one site, say which sites form a group, revoke a box,
re-sign the timestamp, renew the root (and rotate the online key), run the
intake, print the fleet's state from the reports the boxes sent, and
replace a dead box: the offline key of the nightly backups (``pra-key``),
their list and the release of one to the box replacing it (``pra-release``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import tomllib
from pathlib import Path

import click
from aiohttp import web
from pydantic import ValidationError

from appliance.agefile import generate_identity, recipient_of
from appliance.atomic import write_atomic
from appliance.cli_words import PreauGroup
from appliance.commands import cli_gettext, fail
from appliance.executor import BlockingExecutor
from appliance.i18n import N_
from appliance.problems import UserError
from appliance.validation_fr import joined, problems
from sync.credentials import mint_token, token_text
from sync.intake import Intake, create_intake_app
from sync.policy import Bundle
from sync.repository import ROOT_WARNING, CentralRepository, check_name, now_utc


@click.group(
    cls=PreauGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=N_("Outil de l'équipe centrale : dépôt signé, jetons, politiques, parc."),
)
@click.option(
    "--dir",
    "central_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/var/lib/preau-central"),
    show_default=True,
    help=N_("Dossier central (clés, dépôt servi par nginx, arrivées)."),
)
@click.pass_context
def main(ctx: click.Context, central_dir: Path) -> None:
    """The central team's tool."""
    ctx.ensure_object(dict)
    ctx.obj["repo"] = CentralRepository(central_dir)


def _repo(ctx: click.Context) -> CentralRepository:
    repo: CentralRepository = ctx.obj["repo"]
    return repo


@main.command("init", help=N_("Crée les clés et un dépôt signé vide."))
@click.option("--repository", required=True, help=N_("URL publique du dépôt (servi par nginx)."))
@click.option(
    "--intake", required=True, help=N_("URL publique des arrivées (inscription, rapports).")
)
@click.pass_context
def init_command(ctx: click.Context, repository: str, intake: str) -> None:
    """Create the keys and an empty repository."""
    _ = cli_gettext()
    try:
        _repo(ctx).init(repository, intake)
    except UserError as err:
        fail(err, 2)
    click.echo(_("dépôt créé ; mettez keys/root.pem hors ligne"))


@main.command(
    "token", help=N_("Émet un jeton d'inscription à usage unique pour l'établissement UAI.")
)
@click.argument("uai")
@click.option(
    "--hours",
    type=click.IntRange(1, 72),
    default=72,
    show_default=True,
    help=N_("Durée de vie du jeton."),
)
@click.pass_context
def token_command(ctx: click.Context, uai: str, hours: int) -> None:
    """Mint a token."""
    repo = _repo(ctx)
    try:
        check_name(uai)
        settings = repo.settings()
        token = mint_token(
            uai, settings["repository"], settings["intake"], repo.root_bytes(), time.time(),
            dt.timedelta(hours=hours),
        )  # fmt: skip
    except UserError as err:
        fail(err, 2)
    Intake(repo).add_token(token.token_id, uai, token.secret_sha256, token.expires)
    click.echo(token_text(token))


def _read_bundle(path: Path, scope: str, name: str) -> tuple[Bundle, dict[str, bytes]]:
    """Read a bundle file; each ``[[apps]]`` names its package's ``file`` beside it."""
    _ = cli_gettext()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        fail(f"{path}: {err}", 2)
    files: dict[str, bytes] = {}
    apps = raw.get("apps", [])
    for number, app in enumerate(apps if isinstance(apps, list) else [], start=1):
        if not isinstance(app, dict) or not isinstance(app.get("file"), str):
            fail(_("%(path)s : apps n°%(number)s : file (le paquet) manque",
                   path=str(path), number=number), 2)  # fmt: skip
        package = path.parent / app.pop("file")
        try:
            data = package.read_bytes()
        except OSError as err:
            fail(f"{path}: apps n°{number}: {package}: {err.strerror}", 2)
        sha256 = hashlib.sha256(data).hexdigest()
        target = f"apps/{sha256}/{package.name}"
        app.update(target=target, sha256=sha256, size=len(data))
        files[target] = data
    try:
        return Bundle.model_validate({**raw, "scope": scope, "name": name}), files
    except ValidationError as err:
        fail(f"{path}: " + joined(problems(err, whole=N_("politique"))).said(_), 2)


@main.command(
    "publish",
    help=N_("Signe et publie la politique FICHIER (TOML) pour tous, un groupe ou un site."),
)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--group", "group", default=None, help=N_("Pour ce groupe d'établissements."))
@click.option("--site", "site", default=None, help=N_("Pour cet établissement (UAI)."))
@click.pass_context
def publish_command(ctx: click.Context, file: Path, group: str | None, site: str | None) -> None:
    """Publish a bundle."""
    _ = cli_gettext()
    if group and site:
        fail(_("--group ou --site, pas les deux"), 2)
    scope, name = ("group", group) if group else ("site", site) if site else ("all", "all")
    bundle, app_files = _read_bundle(file, scope, name)
    try:
        path = _repo(ctx).publish_bundle(bundle, app_files=app_files)
    except UserError as err:
        fail(err, 2)
    click.echo(_("publié : %(path)s", path=path))


@main.command("group", help=N_("Dit quels établissements (UAI…) forment le groupe NOM."))
@click.argument("name")
@click.argument("uais", nargs=-1)
@click.pass_context
def group_command(ctx: click.Context, name: str, uais: tuple[str, ...]) -> None:
    """Set a group of sites."""
    try:
        for uai in (name, *uais):
            check_name(uai)
        _repo(ctx).set_group(name, list(uais))
    except UserError as err:
        fail(err, 2)


@main.command("revoke", help=N_("Révoque le boîtier BOX : refusé dès son prochain échange."))
@click.argument("box")
@click.pass_context
def revoke_command(ctx: click.Context, box: str) -> None:
    """Revoke a box."""
    repo = _repo(ctx)
    try:
        Intake(repo).revoke(box)
        repo.revoke(box)
    except UserError as err:
        fail(err, 2)


@main.command("refresh", help=N_("Signe de nouveau l'horodatage (serve le fait chaque heure)."))
@click.pass_context
def refresh_command(ctx: click.Context) -> None:
    """Re-sign the timestamp."""
    _ = cli_gettext()
    repo = _repo(ctx)
    try:
        repo.refresh_timestamp()
        left = repo.root_expires() - now_utc()
    except UserError as err:
        fail(err, 2)
    if left < ROOT_WARNING:
        click.echo(
            _("la racine expire dans %(days)s jours : lancez « preau-central root-renew »",
              days=left.days),
            err=True,
        )  # fmt: skip


@main.command(
    "root-renew",
    help=N_(
        "Signe une nouvelle version de la racine, valable un an, avec la clé hors ligne ; "
        "les boîtiers la suivent seuls. --rotate-online change aussi la clé en ligne."
    ),
)
@click.option(
    "--root-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help=N_("La clé racine rapportée (par défaut keys/root.pem)."),
)
@click.option("--rotate-online", is_flag=True, help=N_("Donne une nouvelle clé à l'horodatage."))
@click.pass_context
def root_renew_command(ctx: click.Context, root_key: Path | None, rotate_online: bool) -> None:
    """Renew the root (and, if asked, the online key)."""
    _ = cli_gettext()
    repo = _repo(ctx)
    try:
        version = repo.renew_root(root_key=root_key, rotate_online=rotate_online)
        expires = repo.root_expires()
    except UserError as err:
        fail(err, 2)
    click.echo(
        _("racine version %(version)s, valable jusqu'au %(date)s",
          version=version, date=expires.strftime("%d/%m/%Y")),
    )  # fmt: skip


@main.command(
    "serve", help=N_("Lance les arrivées (inscription, rapports, heure signée) sur HOTE:PORT.")
)
@click.option("--listen", default="127.0.0.1:8700", show_default=True, help=N_("Adresse d'écoute."))
@click.pass_context
def serve_command(ctx: click.Context, listen: str) -> None:
    """Run the intake."""
    host, _sep, port = listen.rpartition(":")
    executor = BlockingExecutor()
    app = create_intake_app(_repo(ctx).paths.root, executor)
    try:
        web.run_app(app, host=host.strip("[]"), port=int(port), print=None)
    finally:
        executor.shutdown()


@main.command("fleet", help=N_("Affiche l'état du parc d'après les derniers rapports (JSON)."))
@click.pass_context
def fleet_command(ctx: click.Context) -> None:
    """Print the fleet's state."""
    intake = Intake(_repo(ctx))
    rows = []
    for box_id, record in intake.boxes().items():
        reports = intake.reports(box_id)
        last = reports[-1] if reports else {}
        rows.append(
            {
                "box": box_id,
                "uai": record["uai"],
                "revoked": bool(record.get("revoked")),
                "reports": len(reports),
                "last_report_at": last.get("generated_at"),
                "version": last.get("version"),
                "policy_version": last.get("link", {}).get("policy_version"),
                "services_down": [
                    s["name"]
                    for s in last.get("services", [])
                    if s["status"] in ("down", "stopped")
                ],
                # The CARMO requirements this school's setup does not meet yet.
                "carmo_unmet": sorted(
                    f"#{f['labels'].get('requirement', '?')}"
                    for f in last.get("figures", [])
                    if f.get("name") == "preau_carmo_met" and f.get("value") == 0
                ),
            }
        )
    click.echo(json.dumps(rows, ensure_ascii=False, indent=1))


@main.command(
    "messages",
    help=N_("Affiche les messages des établissements (demandes d'aide transmises) (JSON)."),
)
@click.pass_context
def messages_command(ctx: click.Context) -> None:
    """Print the messages the boxes sent the central team, oldest first."""
    click.echo(json.dumps(Intake(_repo(ctx)).messages(), ensure_ascii=False, indent=1))


# -- replacing a dead box ("PRA") ---------------------------------------------


@main.command(
    "pra-key",
    help=N_(
        "Crée la clé hors ligne des sauvegardes de remplacement dans FICHIER et publie sa"
        " moitié publique : chaque boîtier y chiffre sa sauvegarde de la nuit."
    ),
)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def pra_key_command(ctx: click.Context, file: Path) -> None:
    """Create the offline backup key and publish its recipient."""
    _ = cli_gettext()
    if file.exists():
        fail(_("%(path)s existe déjà : la clé n'est pas remplacée", path=str(file)), 2)
    identity = generate_identity()
    write_atomic(file, identity + "\n", mode=0o600)
    try:
        _repo(ctx).set_pra_recipient(recipient_of(identity))
    except UserError as err:
        fail(err, 2)
    click.echo(_("clé créée : mettez %(path)s hors ligne, avec la clé racine", path=str(file)))


@main.command("pra-list", help=N_("Liste les sauvegardes de remplacement et les demandes (JSON)."))
@click.argument("uai", required=False)
@click.pass_context
def pra_list_command(ctx: click.Context, uai: str | None) -> None:
    """List backups and restore requests."""
    intake = Intake(_repo(ctx))
    requests = intake.restore_requests()
    uais = [uai] if uai else sorted({r["uai"] for r in intake.boxes().values()})
    try:
        backups = {school: intake.backups(school) for school in uais}
    except UserError as err:
        fail(err, 2)
    shown = {
        "backups": backups,
        "requests": {
            box: {"uai": r["uai"], "asked_at": r["asked_at"]} for box, r in requests.items()
        },
    }
    click.echo(json.dumps(shown, ensure_ascii=False, indent=1))


@main.command(
    "pra-release",
    help=N_(
        "Libère pour le boîtier BOX (qui l'a demandée) la dernière sauvegarde de son"
        " établissement, déchiffrée avec la clé hors ligne et chiffrée pour lui seul."
    ),
)
@click.argument("box")
@click.option(
    "--key",
    "key_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help=N_("La clé hors ligne des sauvegardes (pra-key)."),
)
@click.option("--backup", default=None, help=N_("Une sauvegarde précise (pra-list)."))
@click.pass_context
def pra_release_command(ctx: click.Context, box: str, key_file: Path, backup: str | None) -> None:
    """Release a backup to the box that asked for it."""
    _ = cli_gettext()
    intake = Intake(_repo(ctx))
    try:
        intake.box(box)
        chosen = intake.release(box, key_file.read_text(encoding="ascii").strip(), backup)
    except UserError as err:
        fail(err, 2)
    click.echo(_("sauvegarde %(name)s libérée pour %(box)s", name=chosen, box=box))

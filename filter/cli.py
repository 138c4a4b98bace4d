"""`preau filter …`: lists, explanations and teachers' timed overrides."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import click

from appliance import commands
from appliance.cli_words import PreauGroup
from appliance.config import PreauConfig
from appliance.core import Core
from appliance.i18n import N_
from appliance.problems import problem_of
from filter import state as filtering
from filter.config import FilterConfig


@click.group("filter", cls=PreauGroup, help=N_("Filtrage DNS : listes, explications, dérogations."))
def filter_group() -> None:
    """DNS filtering: lists, explain, overrides."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import compiled, what it left out (with examples), how long it took."""

    per_category: dict[str, int]
    skipped: dict[str, int]
    examples: dict[str, list[str]]
    seconds: float

    @property
    def total(self) -> int:
        """Return the names compiled, exceptions included."""
        return sum(self.per_category.values())


async def import_list(
    core: Core, path: Path, *, name: str, list_format: str, category: str
) -> ImportReport:
    """Read, compile and register a list (raises ListError, saying what is wrong)."""
    from filter.compiled_list import compile_list
    from filter.lists import ListError, ListStats, read_list

    started = time.perf_counter()
    stats = ListStats()

    def build() -> bytes:
        entries = read_list(path, list_format, category, stats)  # type: ignore[arg-type]
        return compile_list(entries, {"name": name, "format": list_format, "source": str(path)})

    artifact = await core.executor.run(build)
    if not stats.domains:
        raise ListError(N_("%(path)s : aucun domaine dedans ; rien n'a été changé"), path=path)
    await filtering.register_list(
        core, name=name, list_format=list_format, source=str(path), artifact=artifact, stats=stats
    )
    return ImportReport(
        stats.domains, stats.not_enforceable, stats.examples, time.perf_counter() - started
    )


def _report(report: ImportReport, config: PreauConfig, *, ut1: bool) -> None:
    from filter.lists import EXCEPTION

    _ = commands.cli_gettext()
    seconds = f"{report.seconds:.1f}"
    click.echo(
        _("%(total)s domaines compilés en %(seconds)s s", total=report.total, seconds=seconds)
    )
    ranked = sorted(report.per_category.items(), key=lambda item: -item[1])
    for category, count in ranked[:20]:
        shown = "exceptions (@@)" if category == EXCEPTION else category  # the same in English
        click.echo(f"  {shown:<24} {count}")
    if len(ranked) > 20:
        click.echo("  … " + _("%(more)s autres catégories", more=len(ranked) - 20))
    if report.skipped:
        click.echo(_("Non applicable par DNS :"))
        for reason, count in sorted(report.skipped.items()):
            examples = report.examples.get(reason, [])
            shown = f"  (ex. {', '.join(repr(e) for e in examples)})" if examples else ""
            click.echo(f"  {reason:<24} {count}{shown}")
    # A category no group denies blocks nothing: say so, naming the groups' key.
    denied = {c for group in config.section(FilterConfig).groups for c in group.denied_categories}
    idle = sorted(c for c in report.per_category if c != EXCEPTION and c not in denied)
    if idle and not ut1:
        click.echo(
            _(
                "Attention : aucun groupe ne refuse %(categories)s : cette liste ne bloque "
                "rien tant que filter.groups[].denied_categories ne la nomme pas.",
                categories=", ".join(idle),
            ),
            err=True,
        )
    if ut1:
        click.echo(_("Listes UT1 : Université Toulouse Capitole, licence CC BY-SA."))


def _import(ctx: click.Context, path: Path, name: str, list_format: str, category: str) -> None:
    from filter.lists import ListError

    config: PreauConfig = commands.config(ctx)
    try:
        report = commands.with_core(
            config,
            ctx.obj["config_path"],
            lambda core: import_list(
                core, path, name=name, list_format=list_format, category=category
            ),
        )
    except ListError as err:
        _ = commands.cli_gettext()
        commands.fail(_("liste refusée : %(error)s", error=problem_of(err).said(_)), 2)
    _report(report, config, ut1=list_format == "ut1")


@filter_group.command(
    "import-ut1", help=N_("Importe les listes UT1 d'une archive ou d'un dossier.")
)
@click.argument("path", type=click.Path(path_type=Path, exists=True))
@click.option("--name", default="ut1", show_default=True, help=N_("Nom de la liste."))
@click.pass_context
def import_ut1(ctx: click.Context, path: Path, name: str) -> None:
    """Import the UT1 lists from a tarball or a directory tree."""
    _import(ctx, path, name, "ut1", "")


@filter_group.command(
    "import-list",
    help=N_(
        "Importe sous le nom NAME une liste de domaines, un fichier hosts ou une liste adblock."
    ),
)
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--format",
    "list_format",
    type=click.Choice(["domains", "hosts", "adblock"]),
    default="domains",
    show_default=True,
    help=N_("Format du fichier."),
)
@click.option(
    "--category",
    required=True,
    help=N_("La catégorie de ses noms ; un groupe doit la refuser (par ex. adult, malware, ads)."),
)
@click.pass_context
def import_other(
    ctx: click.Context, name: str, path: Path, list_format: str, category: str
) -> None:
    """Import a plain domain list, a hosts file or an adblock list as NAME."""
    _import(ctx, path, name, list_format, category)


# Said where a site is explained as allowed while no list is loaded (#16 scope 3).
NO_LIST = N_(
    "Aucune liste n'est chargée : seuls les contrôles et les règles de l'établissement "
    "peuvent bloquer un site. Importez les listes UT1 pour bloquer les catégories."
)


@filter_group.command("lists", help=N_("Montre les listes importées."))
@click.pass_context
def show_lists(ctx: click.Context) -> None:
    """Show the imported lists."""
    config: PreauConfig = commands.config(ctx)
    rows = commands.with_core(
        config, ctx.obj["config_path"], filtering.registered_lists, reads_only=True
    )
    for row in rows:
        click.echo(f"{row['name']:<12} {row['format']:<8} {row['domains']:>9} {row['compiled_at']}")


@filter_group.command(
    "explain", help=N_("Dit ce que DOMAIN donne pour un appareil ou un groupe, et pourquoi.")
)
@click.argument("domain")
@click.option("--client", "client_address", default="", help=N_("Adresse de l'appareil."))
@click.option("--group", default="", help=N_("Nom du groupe (au lieu de --client)."))
@click.pass_context
def explain(ctx: click.Context, domain: str, client_address: str, group: str) -> None:
    """Say what DOMAIN gets for a client or a group, and why."""
    from filter.service import Explanation
    from filter.service import explain as explain_domain

    config: PreauConfig = commands.config(ctx)

    async def body(core: Core) -> tuple[Explanation, int]:
        found = await explain_domain(core, domain, group=group, address=client_address)
        return found, len(await filtering.registered_lists(core))

    try:
        found, lists = commands.with_core(config, ctx.obj["config_path"], body)
    except ValueError as err:
        commands.fail(err, 2)
    decision, client = found.decision, found.client
    _ = commands.cli_gettext()
    verdict = (
        _("BLOQUÉ")
        if decision.blocked
        else (_("RÉÉCRIT") if decision.action == "cname" else _("AUTORISÉ"))
    )
    who = _("%(address)s → groupe %(group)s", address=client.address, group=client.group)
    if client.class_name:
        who += ", " + _("classe %(name)s", name=client.class_name)
    rows = [
        (_("domaine"), domain),
        (_("client"), who),
        (_("décision"), f"{verdict} ({decision.action})"),
        (_("règle"), decision.rule),
        (_("catégorie"), decision.category),
        (_("liste"), decision.list_name),
        (_("entrée"), decision.matched.decode()),
        (_("cible"), decision.target.decode()),
    ]
    for override in found.overrides:
        remaining = int(override.expires_at - time.time()) // 60
        rows.append((_("dérogation"), f"#{override.id} {override.action} ({remaining} min)"))
    width = max(len(label) for label, _value in rows)
    click.echo("\n".join(f"{label:<{width}} : {value}" for label, value in rows if value))
    if not lists and not decision.blocked:
        click.echo(_(NO_LIST), err=True)


@filter_group.group(
    "override",
    help=N_(
        "Contrôles temporaires : tout couper, liste autorisée seule, bloquer des sites, "
        "durcir (#9.2, #9.6)."
    ),
)
def override() -> None:
    """Timed controls: block all, allowlist only, block domains, tighten (#9.2, #9.6)."""


@override.command("add", help=N_("Ajoute une dérogation qui prend fin d'elle-même après MINUTES."))
@click.option("--class", "class_name", default="", help=N_("Vise une classe (par ex. 6A)."))
@click.option("--group", default="", help=N_("Vise un groupe de filtrage."))
@click.option(
    "--clients", default="", help=N_("Vise des adresses ou réseaux, séparés par des virgules.")
)
@click.option(
    "--action",
    required=True,
    type=click.Choice(["block_all", "allowlist_only", "block_domains", "tighten"]),
    help=N_("Le contrôle à appliquer."),
)
@click.option(
    "--minutes",
    type=click.IntRange(1, filtering.MAX_OVERRIDE_SECONDS // 60),
    required=True,
    help=N_("Durée en minutes."),
)
@click.option("--domains", default="", help=N_("Domaines, séparés par des virgules."))
@click.option(
    "--categories", default="", help=N_("Catégories, séparées par des virgules (tighten).")
)
@click.option(
    "--allowlist",
    default="",
    help=N_("Une liste autorisée nommée dans la configuration (examens)."),
)
@click.option("--reason", default="", help=N_("Raison, montrée au référent."))
@click.pass_context
def override_add(
    ctx: click.Context,
    class_name: str,
    group: str,
    clients: str,
    action: str,
    minutes: int,
    domains: str,
    categories: str,
    allowlist: str,
    reason: str,
) -> None:
    """Add an override that ends by itself after MINUTES."""
    _ = commands.cli_gettext()
    config: PreauConfig = commands.config(ctx)
    targets = [
        (k, v) for k, v in (("class", class_name), ("group", group), ("clients", clients)) if v
    ]
    if len(targets) != 1:
        commands.fail(_("donnez une seule des options --class, --group, --clients"), 2)
    kind, target = targets[0]

    async def body(core: Core) -> filtering.OverrideRow:
        return await filtering.add_override(
            core,
            target_kind=cast(filtering.TargetKind, kind),
            target=target,
            action=cast(filtering.OverrideKind, action),
            seconds=minutes * 60,
            domains=[d for d in domains.split(",") if d.strip()],
            categories=[c.strip() for c in categories.split(",") if c.strip()],
            allowlist=allowlist,
            reason=reason,
            actor="cli",
            source="local",
        )

    try:
        row = commands.with_core(config, ctx.obj["config_path"], body)
    except filtering.FilterStateError as err:
        commands.fail(err, 2)
    until = time.strftime("%H:%M", time.localtime(row.expires_at))
    _ = commands.cli_gettext()
    click.echo(
        _(
            "#%(id)s %(action)s sur %(kind)s %(target)s jusqu'à %(until)s",
            id=row.id, action=row.action, kind=row.target_kind, target=row.target, until=until,
        )
    )  # fmt: skip


@override.command("list", help=N_("Montre les dérogations en cours."))
@click.pass_context
def override_list(ctx: click.Context) -> None:
    """Show the overrides in force."""
    config: PreauConfig = commands.config(ctx)
    rows = commands.with_core(
        config, ctx.obj["config_path"], filtering.active_overrides, reads_only=True
    )
    for row in rows:
        left = int(row.expires_at - time.time()) // 60
        click.echo(f"#{row.id} {row.action:<15} {row.target_kind}:{row.target} ({left} min)")


@override.command("end", help=N_("Met fin à une dérogation maintenant."))
@click.argument("override_id", type=int)
@click.pass_context
def override_end(ctx: click.Context, override_id: int) -> None:
    """End an override now."""
    config: PreauConfig = commands.config(ctx)
    ended = commands.with_core(
        config,
        ctx.obj["config_path"],
        lambda core: filtering.end_override(core, override_id, actor="cli", source="local"),
    )
    _ = commands.cli_gettext()
    if not ended:
        commands.fail(_("aucune dérogation n°%(id)s en cours", id=override_id))
    click.echo(_("dérogation n°%(id)s terminée", id=override_id))

"""`preau user second-factor-reset LOGIN`: the console's way back in (issue #16, scope 9).

For a referent who lost both the phone and the recovery codes. Whoever runs
it is root on the box, so no code is asked; the reset is audited, and it
ends the person's sessions and API tokens, since whoever had the phone may
have opened some.
"""

from __future__ import annotations

import click

from appliance import commands
from appliance.cli_words import PreauCommand
from appliance.core import Core
from appliance.i18n import N_
from appliance.identity.second_factor_state import SecondFactors
from appliance.web.sessions import SessionStore


@click.command(
    "second-factor-reset",
    cls=PreauCommand,
    help=N_(
        "Désactive la double authentification de LOGIN (téléphone et codes de secours perdus) "
        "et ferme ses sessions et jetons d'API."
    ),
)
@click.argument("login")
@click.pass_context
def second_factor_reset(ctx: click.Context, login: str) -> None:
    """Turn off LOGIN's second factor and end their sessions and API tokens."""
    _ = commands.cli_gettext()
    config = commands.config(ctx)
    person_id = login.strip()

    async def body(core: Core) -> bool:
        person = await core.directory.person(person_id)
        if person is None:
            return False
        removed = await SecondFactors(core.db, core.executor).remove(person.id)
        await SessionStore(core.db, idle_seconds=1, absolute_seconds=1).revoke_person(person.id)
        await core.audit.record(
            actor="console", source="local", action="second_factor.reset", target=person.id,
            outcome="success", detail="removed" if removed else "none set up",
        )  # fmt: skip
        return True

    if not person_id or len(person_id) > 128:
        commands.fail(_("LOGIN : un identifiant de 1 à 128 caractères est attendu."), 2)
    if not commands.with_core(config, ctx.obj["config_path"], body, reads_only=True):
        commands.fail(_("%(login)s : personne inconnue dans l'annuaire.", login=person_id), 2)
    click.echo(
        _(
            "Double authentification de %(login)s désactivée ; ses sessions et jetons sont "
            "fermés. À sa prochaine connexion, le mot de passe suffit.",
            login=person_id,
        )
    )

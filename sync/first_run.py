"""The link's part of the first-run page: the centre's enrolment token, and the replacement backup.

Optional: a box may run alone. With a token, the box enrols during the
first run (the centre must answer, or the page says why and nothing is
written); with the box replacing a dead one, it also asks the centre for the
school's latest replacement backup, which the sync service restores once
the central team released it (:mod:`sync.pra`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from appliance.features import FirstRunAnswers
from appliance.i18n import N_
from appliance.problems import Problem
from sync.credentials import CredentialError, parse_token
from sync.link import LinkError, enrol
from sync.pra import request_restore
from sync.pra_archive import PraError

if TYPE_CHECKING:
    from appliance.core import Core

MAX_TOKEN: Final = 4096


def _token(answers: FirstRunAnswers) -> str:
    return answers.form.get("sync_token", "")[:MAX_TOKEN].strip()


def read(answers: FirstRunAnswers) -> tuple[dict[str, Any], dict[str, Problem]]:
    """Check the token's shape and school (nothing to set: enrolment writes the link)."""
    text = _token(answers)
    errors: dict[str, Problem] = {}
    if text:
        try:
            token = parse_token(text)
        except CredentialError as err:
            errors["sync_token"] = err.problem
        else:
            uai = answers.form.get("school_uai", "").strip().upper()
            if token.uai != uai:
                errors["sync_token"] = Problem(
                    N_("ce jeton est pour l'établissement %(uai)s, pas pour %(school)s"),
                    {"uai": token.uai, "school": uai},
                )
    elif answers.form.get("sync_restore"):
        errors["sync_token"] = Problem(N_("la restauration demande le jeton du centre"))
    return {}, errors


async def apply(
    core: Core, answers: FirstRunAnswers, actor: str, source: str
) -> dict[str, Problem]:
    """Enrol with the centre, and ask for the replacement backup when told to."""
    text = _token(answers)
    if not text:
        return {}
    uai = answers.form.get("school_uai", "").strip().upper()
    try:
        await enrol(core, text, actor, source, schools={uai})
        if answers.form.get("sync_restore"):
            await request_restore(core, actor, source)
    except (CredentialError, LinkError, PraError) as err:
        return {"sync_token": err.problem}
    return {}

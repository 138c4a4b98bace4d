"""« Mon compte »: who one is, and changing one's password on the box (#16 scope 7).

A directory account changes its password in the directory (the ENT's own
page, ``identity.password_url``); a local account changes it here: the
current password first (through the login throttle), the policy, the new
one typed twice. The other sessions end; this one stays, and every feature
that keeps something under the password (PERSONNEL's key) re-seals it.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from appliance.i18n import N_
from appliance.identity.passwords import PasswordPolicyError, check_policy
from appliance.web.auth import check_own_password, require_role, source_of
from appliance.web.keys import CORE_KEY, SESSION_KEY
from appliance.web.rendering import render, say

routes = web.RouteTableDef()
REFUSED: Final = {
    "wrong": N_("Le mot de passe actuel est erroné."),
    "throttled": N_("Trop de tentatives. Réessayez plus tard."),
    "different": N_("Les deux nouveaux mots de passe ne sont pas identiques."),
    "not_local": N_("Ce compte vient de l'annuaire : son mot de passe se change dans l'ENT."),
}


async def _account_context(request: web.Request, *, error: str = "") -> dict[str, Any]:
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - guaranteed by require_role
    core = request.app[CORE_KEY]
    return {
        "person": await core.directory.person(session.person_id),
        "local": await core.directory.is_local(session.person_id),
        "password_url": core.config.identity.password_url,
        "message": "" if error else request.query.get("mot-de-passe", ""),
        "error": error,
    }


@routes.get("/account")
@require_role("pupil", "teacher", "staff", "referent")
async def account(request: web.Request) -> web.StreamResponse:
    """Show who is logged in, the password's form and the security links."""
    return render(request, "account.html", await _account_context(request))


@routes.post("/compte/mot-de-passe")
@require_role("pupil", "teacher", "staff", "referent")
async def change_password(request: web.Request) -> web.StreamResponse:
    """Change a local account's password; re-seal what the old one sealed."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - guaranteed by require_role
    core = request.app[CORE_KEY]
    form = await request.post()
    current = str(form.get("current", ""))[:256]
    new = str(form.get("new", ""))[:257]
    problem: str | PasswordPolicyError | None = None
    if not await core.directory.is_local(session.person_id):
        problem = REFUSED["not_local"]
    elif new != str(form.get("again", ""))[:257]:
        problem = REFUSED["different"]
    else:
        try:
            check_policy(new)
        except PasswordPolicyError as err:
            problem = err
    if problem is None:
        verdict = await check_own_password(request, session.person_id, current, "password.change")
        if verdict != "ok":
            problem = REFUSED[verdict]
    if problem is not None:
        context = await _account_context(request, error=say(request, problem))
        return render(request, "account.html", context, status=400)
    await core.directory.change_local_password(session.person_id, new, keep=session.token_hash)
    for feature in core.features:
        hooks = feature.sessions
        if hooks is not None and hooks.on_password_change is not None:
            await hooks.on_password_change(
                core, session.person_id, current, new, session.token_hash
            )
    await core.audit.record(
        actor=session.person_id, source=source_of(request), action="password.change",
        target=session.person_id, outcome="success",
    )  # fmt: skip
    raise web.HTTPSeeOther("/account?mot-de-passe=change")

"""Error pages people can read: a page of the UI in their language, with a way on.

aiohttp answers a missing page with a bare ``404: Not Found``; a person on a
phone then has no menu and no link. For a browser's request (it accepts
``text/html``) this middleware answers every refusal of 400 and above with
the UI's own page: what happened in words, the handler's own sentence when it
gave one (already in the reader's language), and links back. The API, the
static files and programs keep their plain answers; a crash is logged with
its trace and shown without it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from appliance.i18n import N_
from appliance.web.rendering import render

_LOGGER = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TITLES: Final = {
    400: N_("Demande incomplète ou incorrecte"),
    403: N_("Accès refusé"),
    404: N_("Page introuvable"),
    405: N_("Action impossible à cette adresse"),
    413: N_("Envoi trop volumineux"),
    429: N_("Trop de demandes"),
    500: N_("Le boîtier a rencontré une erreur"),
    503: N_("Service momentanément indisponible"),
}
EXPLANATIONS: Final = {
    400: N_("Le formulaire envoyé n'a pas pu être lu. Revenez en arrière et vérifiez les champs."),
    403: N_("Votre compte ne donne pas accès à cette page."),
    404: N_(
        "Cette adresse ne mène à aucune page du boîtier. Vérifiez-la ou repartez de l'accueil."
    ),
    405: N_("Cette page ne s'ouvre pas ainsi. Repartez de l'accueil."),
    413: N_("Le fichier ou le formulaire dépasse la taille permise."),
    429: N_("Patientez quelques instants avant de réessayer."),
    500: N_(
        "Rien n'a été perdu de ce qui était déjà enregistré. Réessayez ; si l'erreur revient, "
        "prévenez le référent numérique."
    ),
    503: N_("Réessayez dans quelques minutes."),
}
# Programs and files keep the plain answers they are written against.
_PLAIN: Final = ("/api/", "/static/", "/metrics")


def _wants_page(request: web.Request) -> bool:
    return not request.path.startswith(_PLAIN) and "text/html" in request.headers.get("Accept", "")


def error_page(request: web.Request, status: int, detail: str = "") -> web.Response:
    """Return the UI's page for a refusal or an error of ``status``."""
    shown = status if status in TITLES else (500 if status >= 500 else 400)
    return render(
        request,
        "error.html",
        {"status": status, "title": TITLES[shown], "explanation": EXPLANATIONS[shown],
         "detail": detail[:500]},
        status=status,
    )  # fmt: skip


@web.middleware
async def error_pages_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer a browser's refused or failed request with a page of the UI."""
    if not _wants_page(request):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as refusal:
        if refusal.status < 400:
            raise
        default = f"{refusal.status}: {refusal.reason}"
        detail = "" if refusal.text in (None, default) else str(refusal.text)
        page = error_page(request, refusal.status, detail)
        for name in ("Retry-After", "Allow"):
            if name in refusal.headers:
                page.headers[name] = refusal.headers[name]
        return page
    except Exception:
        _LOGGER.exception("Page %s %s failed", request.method, request.path)
        return error_page(request, 500)

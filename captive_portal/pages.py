"""The portal's pages: login with the charter, guest voucher, status, messages.

Rendered on the server from one autoescaped template, French first and
English second (``Accept-Language`` or ``?lang=``). No script, no external
asset: the pages must work inside a phone's captive mini-browser, which often
runs no JavaScript, and before the device is allowed anywhere.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Final

import jinja2

from appliance.i18n import N_, Catalogues, install_in

_FOLDER: Final = Path(__file__).parent / "templates"

# What the portal tells a device, by the reason's name (translated where shown).
MESSAGES: Final = {
    "logged_out": N_("Vous êtes déconnecté·e."),
    "err_charter": N_("Vous devez accepter la charte en vigueur."),
    "err_credentials": N_(
        "Identifiant ou mot de passe incorrect. L'identifiant est celui de l'ENT de "
        "l'établissement (pas une adresse e-mail) ; en cas d'oubli, le référent numérique en "
        "donne un nouveau."
    ),
    "err_voucher": N_("Code invalide, expiré ou déjà épuisé."),
    "err_device": N_("Appareil introuvable sur le réseau : reconnectez-vous au Wi-Fi."),
    "err_address": N_("Cette adresse est utilisée par un autre appareil."),
    "err_form": N_("Ce formulaire a expiré ou a déjà été envoyé. Réessayez."),
    "err_form_again": N_("Cette page avait expiré : touchez à nouveau le bouton."),
    "err_slow": N_("Trop de tentatives depuis cet appareil. Patientez une minute."),
    "err_large": N_("Requête trop volumineuse."),
    "err_portal": N_("Erreur du portail, réessayez."),
    "refused_device_cap": N_("Nombre maximal d'appareils atteint pour ce compte."),
    "refused_concurrent_login": N_("Ce compte est déjà connecté ailleurs."),
    "refused_quota": N_("Quota de données du jour atteint."),
    "refused_outside_hours": N_("Accès fermé en dehors des heures de l'établissement."),
}


MAX_LOGO_BYTES: Final = 100_000


def logo_uri(data: bytes) -> str:
    """Return the logo as a ``data:`` address for an ``<img>``, or '' if it is no image we show.

    Inline, because the portal's pages load nothing before the device is
    allowed; an SVG in an ``<img>`` runs no script.
    """
    if not data or len(data) > MAX_LOGO_BYTES:
        return ""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = "image/png"
    elif data.startswith(b"\xff\xd8\xff"):
        kind = "image/jpeg"
    elif data.lstrip()[:5] in (b"<svg ", b"<?xml") and b"<svg" in data[:2000]:
        kind = "image/svg+xml"
    else:
        return ""
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


class PortalPages:
    """Render the portal's pages."""

    def __init__(self) -> None:
        """Load the template (autoescaped, strict) and the portal's catalogues."""
        self._catalogues = Catalogues(["captive_portal"])
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_FOLDER),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
            undefined=jinja2.StrictUndefined,
        )
        install_in(self._env, self._catalogues)
        # The school's logo as a data: address ('' without one), set once at setup.
        self.logo = ""

    def message(self, lang: str, reason: str) -> str:
        """Return what the portal says for ``reason`` (a key of :data:`MESSAGES`)."""
        return self._catalogues.gettext(lang, MESSAGES[reason])

    def render(self, page: str, lang: str, **context: Any) -> str:
        """Render ``page`` (login, status, message) in ``lang``."""
        defaults: dict[str, Any] = {
            "error": "",
            "notice": "",
            "resume_user": "",
            "form_token": "",
            "school": "",
            "online": False,
            "help_text": "",
            "login": "",
            "guest_charter_version": "",
            "guest_charter_text": "",
            "logo": self.logo,
        }
        return self._env.get_template("portal.html").render(
            {**defaults, **context, "page": page, "lang": lang}
        )

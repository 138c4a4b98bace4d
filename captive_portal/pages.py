"""The portal's pages: login with the charter, guest voucher, status, messages.

Rendered on the server from one autoescaped template, French first and
English second (``Accept-Language`` or ``?lang=``). No script, no external
asset: the pages must work inside a phone's captive mini-browser, which often
runs no JavaScript, and before the device is allowed anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import jinja2

_FOLDER: Final = Path(__file__).parent / "templates"

TEXTS: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "title_login": "Connexion au Wi-Fi de l'établissement",
        "login": "Identifiant",
        "password": "Mot de passe",
        "charter": "Charte d'utilisation",
        "charter_version": "version",
        "accept": "J'accepte la charte",
        "submit": "Se connecter",
        "guest_title": "Visiteur : code d'accès",
        "guest_code": "Code figurant sur votre ticket",
        "guest_submit": "Utiliser le code",
        "resume": "Continuer en tant que {user}",
        "resume_help": "Votre appareil a changé d'adresse : reprenez votre session d'un geste.",
        "title_status": "Vous êtes connecté·e",
        "time_left": "Temps restant",
        "data_today": "Données utilisées aujourd'hui",
        "quota": "sur {quota}",
        "throttled": "Quota du jour atteint : débit réduit jusqu'à demain.",
        "devices": "Mes appareils",
        "private_mac": "adresse privée",
        "this_device": "cet appareil",
        "logout": "Déconnecter cet appareil",
        "logout_all": "Déconnecter tous mes appareils",
        "logout_help": "Vos autres appareils restent connectés, sauf avec le second bouton.",
        "logged_out": "Vous êtes déconnecté·e.",
        "other_lang": "English",
        "err_charter": "Vous devez accepter la charte en vigueur.",
        "err_credentials": "Identifiant ou mot de passe incorrect.",
        "err_voucher": "Code invalide, expiré ou déjà épuisé.",
        "err_device": "Appareil introuvable sur le réseau : reconnectez-vous au Wi-Fi.",
        "err_address": "Cette adresse est utilisée par un autre appareil.",
        "err_form": "Ce formulaire a expiré ou a déjà été envoyé. Réessayez.",
        "err_slow": "Trop de tentatives depuis cet appareil. Patientez une minute.",
        "err_large": "Requête trop volumineuse.",
        "err_portal": "Erreur du portail, réessayez.",
        "refused_device_cap": "Nombre maximal d'appareils atteint pour ce compte.",
        "refused_concurrent_login": "Ce compte est déjà connecté ailleurs.",
        "refused_quota": "Quota de données du jour atteint.",
        "refused_outside_hours": "Accès fermé en dehors des heures de l'établissement.",
    },
    "en": {
        "title_login": "Log in to the school Wi-Fi",
        "login": "Username",
        "password": "Password",
        "charter": "Acceptable use charter",
        "charter_version": "version",
        "accept": "I accept the charter",
        "submit": "Log in",
        "guest_title": "Visitor: access code",
        "guest_code": "Code on your ticket",
        "guest_submit": "Use the code",
        "resume": "Continue as {user}",
        "resume_help": "Your device changed its address: resume your session in one tap.",
        "title_status": "You are online",
        "time_left": "Time left",
        "data_today": "Data used today",
        "quota": "of {quota}",
        "throttled": "Today's quota reached: slower until tomorrow.",
        "devices": "My devices",
        "private_mac": "private address",
        "this_device": "this device",
        "logout": "Log this device out",
        "logout_all": "Log all my devices out",
        "logout_help": "Your other devices stay online, except with the second button.",
        "logged_out": "You are logged out.",
        "other_lang": "Français",
        "err_charter": "You must accept the current charter.",
        "err_credentials": "Wrong username or password.",
        "err_voucher": "Invalid, expired or used-up code.",
        "err_device": "Device not found on the network: rejoin the Wi-Fi.",
        "err_address": "This address is used by another device.",
        "err_form": "This form expired or was already sent. Try again.",
        "err_slow": "Too many attempts from this device. Wait a minute.",
        "err_large": "Request too large.",
        "err_portal": "Portal error, try again.",
        "refused_device_cap": "Too many devices for this account.",
        "refused_concurrent_login": "This account is already logged in elsewhere.",
        "refused_quota": "Today's data quota is used up.",
        "refused_outside_hours": "Access is closed outside school hours.",
    },
}


def choose_language(query: str | None, accept_language: str) -> str:
    """Return ``fr`` unless English is asked for (query first, then the header)."""
    if query in TEXTS:
        return query
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in TEXTS:
            return tag
    return "fr"


def human_bytes(count: int) -> str:
    """Return a short size in French/SI style (1,5 Go)."""
    value = float(count)
    for unit in ("o", "ko", "Mo", "Go"):
        if value < 1000 or unit == "Go":
            return f"{value:.0f} {unit}" if unit in ("o", "ko") else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} Go"


class PortalPages:
    """Render the portal's pages."""

    def __init__(self) -> None:
        """Load the template (autoescaped, strict)."""
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_FOLDER),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
            undefined=jinja2.StrictUndefined,
        )

    def render(self, page: str, lang: str, **context: Any) -> str:
        """Render ``page`` (login, status, message) in ``lang``."""
        texts = TEXTS[lang]
        defaults: dict[str, Any] = {
            "error": "",
            "notice": "",
            "resume_user": "",
            "form_token": "",
        }
        return self._env.get_template("portal.html").render(
            {**defaults, **context, "page": page, "lang": lang, "t": texts}
        )

"""UI strings, French first (CARMO #5.13), English second.

A flat catalogue keeps every string of a page in one place and lets a test
check that both languages define the same keys.

These are the kernel's strings; each feature keeps its own in its folder
(``<feature>/translations.py``), merged here by :func:`merged_catalogue`
through the registry. gettext catalogues (Babel) are to replace the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

CATALOGUE: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "skip": "Aller au contenu",
        "nav.dashboard": "Tableau de bord",
        "nav.directory": "Annuaire",
        "nav.settings": "Réglages",
        "nav.account": "Mon compte",
        "nav.logout": "Se déconnecter",
        "nav.language": "English",
        "login.title": "Connexion",
        "login.intro": "Connectez-vous avec votre compte de l'établissement.",
        "login.login": "Identifiant",
        "login.password": "Mot de passe",
        "login.submit": "Se connecter",
        "login.bad_credentials": "Identifiant ou mot de passe incorrect.",
        "login.directory_unreachable": (
            "L'annuaire de l'établissement ne répond pas. Réessayez dans quelques minutes."
        ),
        "login.departed": (
            "Ce compte n'est plus actif dans l'établissement. Pour récupérer vos "
            "fichiers, demandez un code de récupération au référent numérique et "
            "ouvrez la page « Récupérer mes fichiers » (/recuperer)."
        ),
        "login.throttled": "Trop de tentatives. Réessayez dans {seconds} secondes.",
        "login.missing": "Saisissez votre identifiant et votre mot de passe.",
        "dashboard.title": "Tableau de bord",
        "dashboard.services": "État des services",
        "dashboard.service": "Service",
        "dashboard.status": "État",
        "dashboard.detail": "Détail",
        "dashboard.host": "Machine",
        "dashboard.cpu": "Processeur",
        "dashboard.memory": "Mémoire",
        "dashboard.disk": "Disque (données)",
        "dashboard.uptime": "Démarré depuis",
        "dashboard.jobs": "Prochaines tâches de maintenance",
        "dashboard.job": "Tâche",
        "dashboard.window": "Fenêtre",
        "dashboard.next_run": "Prochaine exécution",
        "dashboard.audit": "Derniers événements",
        "status.ok": "Fonctionne",
        "status.degraded": "Dégradé",
        "status.down": "Injoignable",
        "status.stopped": "Arrêté",
        "service.web": "Interface d'administration",
        "service.directory": "Annuaire",
        "service.scheduler": "Planificateur",
        "service.filter": "Filtrage DNS",
        "service.portal": "Portail captif",
        "directory.title": "Annuaire",
        "directory.classes": "Classes",
        "directory.groups": "Groupes",
        "directory.people": "Personnes",
        "directory.name": "Nom",
        "directory.role": "Profil",
        "directory.class": "Classe",
        "directory.members": "Membres",
        "directory.departed": "Parti le {date}",
        "directory.filter": "Filtrer par classe",
        "directory.all": "Toutes",
        "directory.show": "Afficher",
        "role.pupil": "Élève",
        "role.teacher": "Enseignant·e",
        "role.staff": "Personnel",
        "role.referent": "Référent·e numérique",
        "settings.title": "Réglages",
        "settings.effective": "Configuration effective",
        "settings.closed_days": "Jours de fermeture exceptionnelle",
        "settings.day": "Date",
        "settings.reason": "Motif",
        "settings.add": "Ajouter",
        "settings.remove": "Retirer",
        "settings.none": "Aucun.",
        "account.title": "Mon compte",
        "account.no_admin": "Votre profil ne donne pas accès à l'administration de Préau.",
        "error.forbidden": "Accès refusé.",
    },
    "en": {
        "skip": "Skip to content",
        "nav.dashboard": "Dashboard",
        "nav.directory": "Directory",
        "nav.settings": "Settings",
        "nav.account": "My account",
        "nav.logout": "Log out",
        "nav.language": "Français",
        "login.title": "Log in",
        "login.intro": "Log in with your school account.",
        "login.login": "Username",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.bad_credentials": "Wrong username or password.",
        "login.directory_unreachable": (
            "The school directory is not answering. Try again in a few minutes."
        ),
        "login.departed": (
            "This account is no longer active at the school. To take your files "
            "away, ask the IT referent for a retrieval code and open /recuperer."
        ),
        "login.throttled": "Too many attempts. Try again in {seconds} seconds.",
        "login.missing": "Enter your username and password.",
        "dashboard.title": "Dashboard",
        "dashboard.services": "Services",
        "dashboard.service": "Service",
        "dashboard.status": "Status",
        "dashboard.detail": "Detail",
        "dashboard.host": "Host",
        "dashboard.cpu": "CPU",
        "dashboard.memory": "Memory",
        "dashboard.disk": "Disk (data)",
        "dashboard.uptime": "Up for",
        "dashboard.jobs": "Next maintenance jobs",
        "dashboard.job": "Job",
        "dashboard.window": "Window",
        "dashboard.next_run": "Next run",
        "dashboard.audit": "Latest events",
        "status.ok": "Working",
        "status.degraded": "Degraded",
        "status.down": "Unreachable",
        "status.stopped": "Stopped",
        "service.web": "Admin interface",
        "service.directory": "Directory",
        "service.scheduler": "Scheduler",
        "service.filter": "DNS filtering",
        "service.portal": "Captive portal",
        "directory.title": "Directory",
        "directory.classes": "Classes",
        "directory.groups": "Groups",
        "directory.people": "People",
        "directory.name": "Name",
        "directory.role": "Profile",
        "directory.class": "Class",
        "directory.members": "Members",
        "directory.departed": "Left on {date}",
        "directory.filter": "Filter by class",
        "directory.all": "All",
        "directory.show": "Show",
        "role.pupil": "Pupil",
        "role.teacher": "Teacher",
        "role.staff": "Staff",
        "role.referent": "IT referent",
        "settings.title": "Settings",
        "settings.effective": "Effective configuration",
        "settings.closed_days": "Extra closed days",
        "settings.day": "Date",
        "settings.reason": "Reason",
        "settings.add": "Add",
        "settings.remove": "Remove",
        "settings.none": "None.",
        "account.title": "My account",
        "account.no_admin": "Your profile does not give access to Préau's administration.",
        "error.forbidden": "Access denied.",
    },
}


Catalogue = Mapping[str, Mapping[str, str]]


def merged_catalogue(parts: Iterable[tuple[str, Catalogue]]) -> dict[str, dict[str, str]]:
    """Return the kernel's catalogue with each feature's merged in; a key defined twice fails."""
    merged: dict[str, dict[str, str]] = {lang: dict(CATALOGUE[lang]) for lang in CATALOGUE}
    owner = dict.fromkeys(CATALOGUE["fr"], "appliance")
    for name, catalogue in parts:
        for key in catalogue.get("fr", {}):
            if key in owner:
                raise ValueError(f"translation key {key!r} defined by {owner[key]} and {name}")
            owner[key] = name
        for lang, strings in catalogue.items():
            merged.setdefault(lang, {}).update(strings)
    return merged


def translator(lang: str, catalogue: dict[str, dict[str, str]] = CATALOGUE) -> Callable[..., str]:
    """Return ``t(key, **values)`` for a language, falling back to French."""
    strings = catalogue.get(lang, catalogue["fr"])
    french = catalogue["fr"]

    def translate(key: str, **values: object) -> str:
        text = strings.get(key) or french.get(key) or key
        return text.format(**values) if values else text

    return translate

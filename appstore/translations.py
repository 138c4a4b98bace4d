"""The app store's page strings, French first (CARMO #5.13), English second."""

from __future__ import annotations

from typing import Final

CATALOGUE: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "nav.apps": "Applications",
        "apps.title": "Applications",
        "apps.http": (
            "Sur iPhone et iPad, l'installation ne fonctionne qu'en HTTPS : ouvrez "
            "cette page avec l'adresse sécurisée du boîtier."
        ),
        "apps.version": "version",
        "apps.install": "Installer",
        "apps.none": "Aucune application ne vous est proposée pour l'instant.",
        "apps.platform.android": "Android",
        "apps.platform.ios": "iPhone et iPad",
        "apps.platform.windows": "Windows",
        "apps.platform.macos": "macOS",
        "apps.platform.linux": "Linux",
        "apps.platform.other": "Autre",
        "apps.admin": "Applications de l'établissement",
        "apps.stored": "Application enregistrée.",
        "apps.stored.scanned": "L'antivirus l'a analysée avant de l'enregistrer.",
        "apps.assigned": "Affectations enregistrées.",
        "apps.removed": "Application supprimée.",
        "apps.upload": "Ajouter une application",
        "apps.upload.button": "Envoyer",
        "apps.field.platform": "Système",
        "apps.field.name": "Nom affiché",
        "apps.field.package_id": "Identifiant de l'application",
        "apps.field.package_id.help": (
            "Nom du paquet Android ou identifiant de bundle iOS (par exemple "
            "fr.college.cahier) ; vérifié dans le fichier quand c'est possible."
        ),
        "apps.field.version": "Version",
        "apps.field.version_code": "Code de version (Android)",
        "apps.field.description": "Description",
        "apps.field.file": "Fichier (APK, IPA, MSI…)",
        "apps.packages": "Applications",
        "apps.mdm_link": "Lien pour le MDM",
        "apps.managed_play": "Définition Managed Google Play (JSON)",
        "apps.assignments": "Qui peut l'installer",
        "apps.assignments.help": (
            "Une ligne par règle : school (tout l'établissement), role:pupil, "
            "role:teacher, class:6A, group:NOM, person:IDENTIFIANT."
        ),
        "apps.assign": "Enregistrer les affectations",
        "apps.remove": "Supprimer",
    },
    "en": {
        "nav.apps": "Apps",
        "apps.title": "Apps",
        "apps.http": (
            "On iPhone and iPad, installing works over HTTPS only: open this page "
            "with the box's secure address."
        ),
        "apps.version": "version",
        "apps.install": "Install",
        "apps.none": "No app is offered to you yet.",
        "apps.platform.android": "Android",
        "apps.platform.ios": "iPhone and iPad",
        "apps.platform.windows": "Windows",
        "apps.platform.macos": "macOS",
        "apps.platform.linux": "Linux",
        "apps.platform.other": "Other",
        "apps.admin": "The school's apps",
        "apps.stored": "App stored.",
        "apps.stored.scanned": "The antivirus scanned it before it was stored.",
        "apps.assigned": "Assignments saved.",
        "apps.removed": "App removed.",
        "apps.upload": "Add an app",
        "apps.upload.button": "Upload",
        "apps.field.platform": "System",
        "apps.field.name": "Display name",
        "apps.field.package_id": "App identifier",
        "apps.field.package_id.help": (
            "Android package name or iOS bundle identifier (e.g. "
            "fr.college.notebook); checked in the file when possible."
        ),
        "apps.field.version": "Version",
        "apps.field.version_code": "Version code (Android)",
        "apps.field.description": "Description",
        "apps.field.file": "File (APK, IPA, MSI…)",
        "apps.packages": "Apps",
        "apps.mdm_link": "Link for the MDM",
        "apps.managed_play": "Managed Google Play definition (JSON)",
        "apps.assignments": "Who may install it",
        "apps.assignments.help": (
            "One rule per line: school (everyone), role:pupil, role:teacher, "
            "class:6A, group:NAME, person:ID."
        ),
        "apps.assign": "Save assignments",
        "apps.remove": "Remove",
    },
}

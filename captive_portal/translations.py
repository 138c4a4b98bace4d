"""The portal's page strings, French first (CARMO #5.13), English second.

Merged into the admin app's catalogue by the registry (:mod:`appliance.features`);
a key may be defined once in the whole appliance.
"""

from __future__ import annotations

from typing import Final

CATALOGUE: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "nav.portal": "Wi-Fi invité·es",
        "portal.title": "Portail Wi-Fi (appareils personnels)",
        "portal.sessions": "Connexions en cours",
        "portal.user": "Compte",
        "portal.role": "Rôle",
        "portal.devices": "Appareils",
        "portal.random": "adresse aléatoire",
        "portal.today": "Aujourd'hui",
        "portal.left": "Reste",
        "portal.throttled": "débit réduit",
        "portal.kick": "Déconnecter",
        "portal.extend": "Prolonger d'une heure",
        "portal.vouchers": "Codes invités",
        "portal.voucher.count": "Nombre de codes",
        "portal.voucher.minutes": "Durée d'accès (minutes)",
        "portal.voucher.devices": "Appareils par code",
        "portal.voucher.days": "Utilisable pendant (jours)",
        "portal.voucher.label": "Pour (intervenant, réunion…)",
        "portal.voucher.create": "Créer et imprimer",
        "portal.voucher.print_title": "Accès Wi-Fi invité",
        "portal.voucher.print_help": (
            "Rejoignez le Wi-Fi, ouvrez une page web et saisissez ce code. Valable "
            "{minutes} min à partir de la première connexion."
        ),
        "portal.voucher.once": (
            "Ces codes ne seront plus affichés : imprimez cette page maintenant."
        ),
        "portal.voucher.used": "utilisé",
        "portal.voucher.unused": "non utilisé",
        "portal.voucher.revoked": "révoqué",
        "portal.voucher.revoke": "Révoquer",
        "portal.charter": "Charte d'utilisation",
        "portal.charter.current": "Version en vigueur",
        "portal.charter.accepted": "{count} acceptation(s)",
        "portal.charter.version": "Nouvelle version",
        "portal.charter.text": "Texte",
        "portal.charter.publish": "Publier (chacun l'accepte à sa prochaine connexion)",
        "portal.roles": "Règles par rôle",
        "portal.roles.help": (
            "Les valeurs de /etc/preau/preau.toml ([portal.roles.*]) s'appliquent "
            "tant qu'elles ne sont pas modifiées ici ; les nouvelles règles valent "
            "pour les prochaines connexions, l'inactivité et les quotas tout de "
            "suite."
        ),
        "portal.roles.save": "Enregistrer",
        "portal.roles.concurrent": "Au-delà",
        "portal.roles.concurrent.replace_oldest": "remplacer le plus ancien",
        "portal.roles.concurrent.refuse": "refuser",
        "portal.roles.concurrent.allow": "accepter",
        "portal.roles.hard": "Durée max.",
        "portal.roles.idle": "Inactivité",
        "portal.roles.max_devices": "Appareils",
        "portal.roles.quota": "Quota/jour",
        "portal.roles.rate": "Débit",
        "portal.roles.day_end": "Fin de journée",
        "portal.usage": "Consommation",
        "portal.usage.export": "Exporter (CSV, par compte et par jour)",
        "portal.usage.export_devices": "Exporter (CSV, par appareil)",
        "portal.usage.retention": "Conservée {days} jours.",
        "portal.alerts": "Alertes de consommation",
        "portal.dhcp": "Appareils vus par le DHCP",
        "portal.hostname": "Nom",
        "portal.last_seen": "Vu le",
        "portal.disabled": "Le portail captif n'est pas activé ([portal] enabled = false).",
    },
    "en": {
        "nav.portal": "Guest Wi-Fi",
        "portal.title": "Wi-Fi portal (personal devices)",
        "portal.sessions": "Current sessions",
        "portal.user": "Account",
        "portal.role": "Role",
        "portal.devices": "Devices",
        "portal.random": "random address",
        "portal.today": "Today",
        "portal.left": "Left",
        "portal.throttled": "slowed down",
        "portal.kick": "Log out",
        "portal.extend": "Extend by one hour",
        "portal.vouchers": "Guest codes",
        "portal.voucher.count": "Number of codes",
        "portal.voucher.minutes": "Access time (minutes)",
        "portal.voucher.devices": "Devices per code",
        "portal.voucher.days": "Usable for (days)",
        "portal.voucher.label": "For (speaker, meeting…)",
        "portal.voucher.create": "Create and print",
        "portal.voucher.print_title": "Guest Wi-Fi access",
        "portal.voucher.print_help": (
            "Join the Wi-Fi, open a web page and type this code. Valid {minutes} "
            "min from the first login."
        ),
        "portal.voucher.once": "These codes will not be shown again: print this page now.",
        "portal.voucher.used": "used",
        "portal.voucher.unused": "unused",
        "portal.voucher.revoked": "revoked",
        "portal.voucher.revoke": "Revoke",
        "portal.charter": "Acceptable use charter",
        "portal.charter.current": "Version in force",
        "portal.charter.accepted": "{count} acceptance(s)",
        "portal.charter.version": "New version",
        "portal.charter.text": "Text",
        "portal.charter.publish": "Publish (everyone accepts it at their next login)",
        "portal.roles": "Rules per role",
        "portal.roles.help": (
            "Values from /etc/preau/preau.toml ([portal.roles.*]) apply until "
            "changed here; new rules apply to the next logins, idle time and quotas"
            " at once."
        ),
        "portal.roles.save": "Save",
        "portal.roles.concurrent": "Beyond",
        "portal.roles.concurrent.replace_oldest": "replace the oldest",
        "portal.roles.concurrent.refuse": "refuse",
        "portal.roles.concurrent.allow": "allow",
        "portal.roles.hard": "Max. length",
        "portal.roles.idle": "Idle",
        "portal.roles.max_devices": "Devices",
        "portal.roles.quota": "Quota/day",
        "portal.roles.rate": "Rate",
        "portal.roles.day_end": "End of day",
        "portal.usage": "Usage",
        "portal.usage.export": "Export (CSV, per account and day)",
        "portal.usage.export_devices": "Export (CSV, per device)",
        "portal.usage.retention": "Kept {days} days.",
        "portal.alerts": "Usage alerts",
        "portal.dhcp": "Devices seen by DHCP",
        "portal.hostname": "Name",
        "portal.last_seen": "Seen",
        "portal.disabled": "The captive portal is off ([portal] enabled = false).",
    },
}

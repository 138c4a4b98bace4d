"""Roles, the kernel's services and health states, named for the pages (``N_``)."""

from __future__ import annotations

from typing import Final

from appliance.i18n import N_

LABELS: Final[dict[str, dict[str, str]]] = {
    "role": {
        "pupil": N_("Élève"),
        "teacher": N_("Enseignant·e"),
        "staff": N_("Personnel"),
        "referent": N_("Référent·e numérique"),
    },
    "service": {
        "directory": N_("Annuaire"),
        "scheduler": N_("Planificateur"),
        "web": N_("Interface d'administration"),
    },
    "teaching.source": {
        "ldap": N_("annuaire"),
        "sts": N_("STS-Web"),
        "aaf": N_("AAF"),
        "local": N_("référent"),
    },
    "school_kind": {
        "ecole": N_("École"),
        "college": N_("Collège"),
        "lycee": N_("Lycée"),
    },
    # How an audited action ended, when it did not succeed.
    "outcome": {
        "success": N_("réussi"),
        "failure": N_("échec"),
        "denied": N_("refusé"),
        "refused": N_("refusé"),
        "ok": N_("réussi"),
        "created": N_("créé"),
        "throttled": N_("trop de tentatives"),
    },
    # The kernel's audited actions, as the dashboard's last events name them.
    "audit": {
        "login": N_("Connexion"),
        "logout": N_("Déconnexion"),
        "user.add": N_("Compte local créé"),
        "sessions.revoke": N_("Sessions fermées"),
        "delegation.grant": N_("Délégation accordée"),
        "delegation.withdraw": N_("Délégation retirée"),
        "directory.import_file": N_("Annuaire importé d'un fichier"),
        "calendar.closed_day.add": N_("Jour de fermeture ajouté"),
        "calendar.closed_day.remove": N_("Jour de fermeture retiré"),
        "teaching.set": N_("Classes d'un enseignant modifiées"),
        "teaching.import_sts": N_("Services importés de STS-Web"),
        "timetable.import": N_("Emploi du temps importé"),
        "subgroup.save": N_("Groupe de classe enregistré"),
        "subgroup.delete": N_("Groupe de classe supprimé"),
        "first_run.done": N_("Première mise en route terminée"),
        "second_factor.enable": N_("Double authentification activée"),
        "second_factor.disable": N_("Double authentification désactivée"),
        "second_factor.codes": N_("Nouveaux codes de secours"),
        "second_factor.reset": N_("Double authentification réinitialisée (console)"),
        "password.change": N_("Mot de passe changé"),
        "settings.change": N_("Réglages modifiés"),
        "token.issue": N_("Jeton d'API créé"),
        "token.revoke": N_("Jeton d'API révoqué"),
    },
    "token_scope": {
        "read": N_("lecture seule"),
        "write": N_("lecture et écriture"),
    },
    "day": {
        "mon": N_("lundi"),
        "tue": N_("mardi"),
        "wed": N_("mercredi"),
        "thu": N_("jeudi"),
        "fri": N_("vendredi"),
        "sat": N_("samedi"),
        "sun": N_("dimanche"),
    },
    # The config's sections, as the settings page's effective view names them.
    "config.section": {
        "site": N_("Site et établissements"),
        "state": N_("Base d'état"),
        "web": N_("Interface web et connexions"),
        "identity": N_("Annuaire et comptes"),
        "scheduler": N_("Calendrier et maintenance"),
        "audit": N_("Journal d'audit"),
        "logging": N_("Journaux"),
        "productions": N_("Espaces de travail et sauvegardes"),
        "filter": N_("Filtrage"),
        "portal": N_("Portail Wi-Fi"),
        "cache": N_("Cache des mises à jour"),
        "store": N_("Applications"),
        "sync": N_("Lien avec le centre"),
        "updates": N_("Mises à jour du système"),
    },
    "status": {
        "ok": N_("Fonctionne"),
        "degraded": N_("Dégradé"),
        "down": N_("Injoignable"),
        "stopped": N_("Arrêté"),
    },
}

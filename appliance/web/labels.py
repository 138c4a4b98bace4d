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
    "status": {
        "ok": N_("Fonctionne"),
        "degraded": N_("Dégradé"),
        "down": N_("Injoignable"),
        "stopped": N_("Arrêté"),
    },
}

"""The updates' words for the pages, the audit log and the dashboard (``N_``)."""

from __future__ import annotations

from typing import Final

from appliance.i18n import N_

LABELS: Final[dict[str, dict[str, str]]] = {
    "update.outcome": {
        "committed": N_("installée et gardée"),
        "reverted": N_("annulée : retour seul à la version précédente"),
        "refused": N_("refusée avant toute modification"),
        "failed": N_("interrompue : le boîtier est resté sur sa version"),
    },
    "update.approver": {
        "referent": N_("approuvée par le référent"),
        "centre": N_("approuvée par le centre (politique de la collectivité)"),
    },
    "audit": {
        "system.update": N_("Mise à jour du système"),
        "system.update.approve": N_("Mise à jour du système approuvée"),
        "system.update.withdraw": N_("Approbation d'une mise à jour retirée"),
    },
}

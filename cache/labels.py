"""The cache's service and pre-staging run states, named for its pages."""

from __future__ import annotations

from typing import Final

from appliance.i18n import N_

LABELS: Final[dict[str, dict[str, str]]] = {
    "cache.status": {
        "requested": N_("demandé"),
        "running": N_("en cours"),
        "done": N_("terminé"),
        "stopped": N_("arrêté à la fin de la fenêtre"),
        "failed": N_("non pris en charge"),
    },
    "service": {
        "cache": N_("Cache des mises à jour"),
    },
    "audit": {
        "cache.prestage.plan": N_("Préchargement du cache planifié"),
    },
}

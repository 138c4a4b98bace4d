"""The filter's service, override actions and request states, named for its pages."""

from __future__ import annotations

from typing import Final

from appliance.i18n import N_

LABELS: Final[dict[str, dict[str, str]]] = {
    "filtering.action": {
        "block_all": N_("Couper internet"),
        "allowlist_only": N_("Liste autorisée seulement"),
        "block_domains": N_("Bloquer ces sites"),
        "tighten": N_("Durcir les catégories"),
    },
    "filtering.request": {
        "allowed": N_("Autoriser"),
        "refused": N_("Refuser"),
        "open": N_("En attente"),
    },
    "filtering.status": {
        "allowed": N_("Autorisé"),
        "refused": N_("Refusé"),
    },
    "service": {
        "filter": N_("Filtrage DNS"),
    },
}

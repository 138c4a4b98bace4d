"""The sync service's name, as the dashboard shows it."""

from __future__ import annotations

from typing import Final

from appliance.i18n import N_

LABELS: Final[dict[str, dict[str, str]]] = {
    "service": {
        "sync": N_("Lien avec le centre"),
    },
    "audit": {
        "sync.device_profile": N_("Profil d'appareil appliqué"),
        "sync.enrol": N_("Inscription auprès du centre"),
        "sync.policy.apply": N_("Politique du centre appliquée"),
        "sync.pra.backup": N_("Sauvegarde de remplacement envoyée"),
        "sync.pra.request": N_("Remplacement du boîtier demandé"),
        "sync.pra.restore": N_("Boîtier remplacé depuis la sauvegarde"),
        "sync.rotate": N_("Clé du boîtier renouvelée"),
    },
}

"""The sync service's name, as the dashboard shows it."""

from __future__ import annotations

from typing import Final

from appliance.i18n import N_

LABELS: Final[dict[str, dict[str, str]]] = {
    "service": {
        "sync": N_("Lien avec le centre"),
    },
}

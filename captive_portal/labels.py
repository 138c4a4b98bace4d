"""The portal's service and its concurrent-login choices, named for its pages."""

from __future__ import annotations

from typing import Final

from appliance.i18n import N_

LABELS: Final[dict[str, dict[str, str]]] = {
    "portal.roles.concurrent": {
        "replace_oldest": N_("remplacer le plus ancien"),
        "refuse": N_("refuser"),
        "allow": N_("accepter"),
    },
    "service": {
        "portal": N_("Portail captif"),
    },
}

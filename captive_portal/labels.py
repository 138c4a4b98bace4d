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
    "audit": {
        "portal.charter": N_("Charte du Wi-Fi modifiée"),
        "portal.extend": N_("Connexion Wi-Fi prolongée"),
        "portal.kick": N_("Appareil déconnecté du Wi-Fi"),
        "portal.login": N_("Connexion au Wi-Fi"),
        "portal.logout": N_("Déconnexion du Wi-Fi"),
        "portal.roles": N_("Droits Wi-Fi des rôles modifiés"),
        "portal.voucher": N_("Code invité utilisé"),
        "portal.vouchers": N_("Codes invités créés"),
    },
}

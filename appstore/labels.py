"""The app store's platforms, named for its pages."""

from __future__ import annotations

from typing import Final

from appliance.i18n import N_

LABELS: Final[dict[str, dict[str, str]]] = {
    "apps.platform": {
        "android": N_("Android"),
        "ios": N_("iPhone et iPad"),
        "windows": N_("Windows"),
        "macos": N_("macOS"),
        "linux": N_("Linux"),
        "other": N_("Autre"),
    },
    "audit": {
        "store.package.add": N_("Application ajoutée"),
        "store.package.assign": N_("Application attribuée"),
        "store.package.infected": N_("Application infectée refusée"),
        "store.package.remove": N_("Application retirée"),
    },
}

"""The storage's form on the settings page: each role's space capacities (#8.7, #8.8)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from appliance.features import SettingsForm
from appliance.i18n import N_
from storage.config import ProductionsConfig

if TYPE_CHECKING:
    from appliance.core import Core


async def _quotas(core: Core) -> Mapping[str, Any]:
    return {"quotas": sorted(core.config.section(ProductionsConfig).quotas.items())}


def _quota_values(core: Core, form: Any) -> Mapping[str, Any]:
    # Strings go as they came: the config's own validation names a bad one.
    quotas = {
        role: {
            "pedagogical_mb": str(form.get(f"{role}-pedagogical", "")).strip(),
            "personnel_mb": str(form.get(f"{role}-personnel", "")).strip(),
        }
        for role in core.config.section(ProductionsConfig).quotas
    }
    return {"productions": {"quotas": quotas}}


STORAGE_FORMS: Final = (
    SettingsForm(
        "quotas", N_("Place de chacun (quotas)"), "storage_settings.html", _quotas, _quota_values
    ),
)

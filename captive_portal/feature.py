"""What the captive portal brings to the appliance (its one registration)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.features import (
    Feature,
    FirstRunPart,
    MenuEntry,
    Replacement,
    ServiceSpec,
    enabled_by,
    later,
    later_call,
)
from appliance.i18n import N_
from appliance.site_status import carmo_row
from captive_portal.config import PortalConfig
from captive_portal.labels import LABELS

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.service import Service


def _create(core: Core) -> Service:
    from captive_portal.service import PortalService

    return PortalService(core)


async def _site_figures(core: Core, now: float) -> list[tuple[str, str, float]]:
    """Return the carts' figures and the portal's conformity: a login per person (#7.5)."""
    from captive_portal.carts import cart_figures

    enabled = core.config.section(PortalConfig).enabled
    return [*await cart_figures(core, now), carmo_row("7.5", enabled)]


FEATURE = Feature(
    name="portal",
    order=20,
    config=("portal", PortalConfig),
    services=(ServiceSpec("portal", _create, enabled_by(PortalConfig)),),
    demo=later_call("captive_portal.demo:portal_history"),
    site_figures=_site_figures,
    figures=later_call("captive_portal.dashboard:portal_figures"),
    alerts=later_call("captive_portal.dashboard:portal_alerts"),
    routes=later("captive_portal.admin_pages:routes", "captive_portal.api:api"),
    templates_package="captive_portal",
    migrations_package="captive_portal",
    jobs=later_call("captive_portal.jobs:portal_jobs"),
    translations="captive_portal",
    labels=LABELS,
    menu=(MenuEntry("/portal", N_("Wi-Fi invité·es")),),
    replacement=Replacement(tables=("portal_charters", "portal_charter", "portal_role_settings")),
    gate_probes=later_call("captive_portal.health_gate:gate_probes"),
    first_run=FirstRunPart("portal_first_run.html", later_call("captive_portal.first_run:read")),
)

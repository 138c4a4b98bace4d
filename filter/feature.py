"""What the DNS filter brings to the appliance (its one registration)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.features import (
    Feature,
    MenuEntry,
    Replacement,
    ServiceSpec,
    enabled_by,
    later,
    later_call,
)
from appliance.i18n import N_
from appliance.site_status import carmo_row
from filter.config import FilterConfig
from filter.labels import LABELS
from filter.settings_forms import FILTER_FORMS

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.service import Service


def _create(core: Core) -> Service:
    from filter.service import FilterService

    return FilterService(core)


async def _site_figures(core: Core, now: float) -> list[tuple[str, str, float]]:
    """Return the filter's conformity: pupils are protected when it runs with lists (#7.2)."""
    row = await core.db.fetchone("SELECT COUNT(*) FROM filter_lists")
    loaded = bool(row and row[0])
    return [carmo_row("7.2", core.config.section(FilterConfig).enabled and loaded)]


FEATURE = Feature(
    name="filter",
    order=10,
    config=("filter", FilterConfig),
    services=(ServiceSpec("filter", _create, enabled_by(FilterConfig)),),
    routes=later("filter.admin_pages:routes", "filter.class_pages:routes", "filter.api:api"),
    templates_package="filter",
    migrations_package="filter",
    jobs=later_call("filter.jobs:filter_jobs"),
    commands={"filter": "filter.cli:filter_group"},
    translations="filter",
    labels=LABELS,
    menu=(
        MenuEntry("/filtering", N_("Filtrage")),
        MenuEntry(
            "/internet",
            N_("Internet de la classe"),
            roles=("teacher", "referent"),
            section="personal",
        ),
    ),
    demo=later_call("filter.demo:filter_demo"),
    site_figures=_site_figures,
    figures=later_call("filter.dashboard:filter_figures"),
    alerts=later_call("filter.dashboard:filter_alerts"),
    settings_forms=FILTER_FORMS,
    gate_probes=later_call("filter.health_gate:gate_probes"),
    landing={"teacher": "/internet"},  # a teacher opens the box to act on the class
    replacement=Replacement(
        tables=("filter_overrides", "filter_local_allow", "filter_unblock_requests")
    ),
)

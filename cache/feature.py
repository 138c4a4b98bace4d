"""What the app and update cache brings to the appliance (its one registration)."""

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
from cache.config import CacheConfig
from cache.labels import LABELS

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.service import Service


def _create(core: Core) -> Service:
    from cache.service import CacheService

    return CacheService(core)


async def _site_figures(core: Core, now: float) -> list[tuple[str, str, float]]:
    """Return the cache's conformity: one download per site for apps and updates (#6.2)."""
    return [carmo_row("6.2", core.config.section(CacheConfig).enabled)]


FEATURE = Feature(
    name="cache",
    order=30,
    config=("cache", CacheConfig),
    services=(ServiceSpec("cache", _create, enabled_by(CacheConfig)),),
    routes=later("cache.admin_pages:routes", "cache.api:api"),
    templates_package="cache",
    migrations_package="cache",
    jobs=later_call("cache.jobs:cache_jobs"),
    translations="cache",
    labels=LABELS,
    menu=(MenuEntry("/cache", N_("Cache des mises à jour")),),
    demo=later_call("cache.demo:cache_history"),
    site_figures=_site_figures,
    figures=later_call("cache.dashboard:cache_figures"),
    replacement=Replacement(tables=("cache_prestage_items",)),
)

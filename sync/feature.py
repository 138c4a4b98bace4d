"""What the link with the collectivité's centre brings to the appliance (its one registration)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.features import DashboardPanel, Feature, MenuEntry, ServiceSpec, enabled_by
from appliance.i18n import N_
from sync import api, device_pages, first_run, pages
from sync.cli import sync_group
from sync.config import SyncConfig
from sync.jobs import sync_jobs
from sync.labels import LABELS

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.service import Service


def _create(core: Core) -> Service:
    from sync.service import SyncService

    return SyncService(core)


FEATURE = Feature(
    name="sync",
    order=60,
    config=("sync", SyncConfig),
    services=(ServiceSpec("sync", _create, enabled_by(SyncConfig)),),
    routes=(pages.routes, device_pages.routes, api.api),
    templates_package="sync",
    migrations_package="sync",
    translations="sync",
    labels=LABELS,
    commands=(sync_group,),
    jobs=sync_jobs,
    menu=(MenuEntry("/synchro", N_("Lien avec le centre")),),
    dashboard=(DashboardPanel("sync_panel.html", pages.sync_panel),),
    first_run=first_run.PART,
)

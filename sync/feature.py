"""What the link with the collectivité's centre brings to the appliance (its one registration)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.features import (
    DashboardPanel,
    Feature,
    FirstRunPart,
    MenuEntry,
    ServiceSpec,
    enabled_by,
    later,
    later_call,
)
from appliance.i18n import N_
from appliance.services import SHARED_UNIT
from sync.config import SyncConfig
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
    # No privilege of its own: it runs in the shared unit (preau-web.service).
    services=(ServiceSpec("sync", _create, enabled_by(SyncConfig), unit=SHARED_UNIT),),
    routes=later("sync.pages:routes", "sync.device_pages:routes", "sync.api:api"),
    templates_package="sync",
    migrations_package="sync",
    translations="sync",
    labels=LABELS,
    commands={"sync": "sync.cli:sync_group"},
    jobs=later_call("sync.jobs:sync_jobs"),
    menu=(MenuEntry("/synchro", N_("Lien avec le centre")),),
    dashboard=(DashboardPanel("sync_panel.html", later_call("sync.pages:sync_panel")),),
    alerts=later_call("sync.dashboard:sync_alerts"),
    central_link=later_call("sync.state:central_linked"),
    first_run=FirstRunPart(
        "sync_first_run.html",
        later_call("sync.first_run:read"),
        later_call("sync.first_run:apply"),
    ),
)

"""What system updates bring to the appliance (their one registration)."""

from __future__ import annotations

from appliance.features import Feature, MenuEntry, later, later_call
from appliance.i18n import N_
from updates.config import UpdatesConfig
from updates.labels import LABELS

FEATURE = Feature(
    name="updates",
    order=90,
    config=("updates", UpdatesConfig),
    migrations_package="updates",
    routes=later("updates.pages:routes"),
    templates_package="updates",
    menu=(MenuEntry("/systeme/mises-a-jour", N_("Mises à jour du système")),),
    translations="updates",
    labels=LABELS,
    commands={"update": "updates.cli:update_group"},
    jobs=later_call("updates.jobs:update_jobs"),
    alerts=later_call("updates.dashboard:update_alerts"),
)

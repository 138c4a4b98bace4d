"""What system updates bring to the appliance (their one registration)."""

from __future__ import annotations

from appliance.features import Feature, later_call
from updates.config import UpdatesConfig

FEATURE = Feature(
    name="updates",
    order=90,
    config=("updates", UpdatesConfig),
    migrations_package="updates",
    translations="updates",
    commands={"update": "updates.cli:update_group"},
    jobs=later_call("updates.jobs:update_jobs"),
    alerts=later_call("updates.dashboard:update_alerts"),
)

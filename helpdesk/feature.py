"""What help brings to the appliance (its one registration)."""

from __future__ import annotations

from appliance.features import VISITOR, Feature, MenuEntry, later, later_call
from appliance.i18n import N_
from helpdesk.guides import EVERYONE
from helpdesk.labels import LABELS

FEATURE = Feature(
    name="helpdesk",
    order=70,
    routes=later("helpdesk.pages:routes"),
    templates_package="helpdesk",
    migrations_package="helpdesk",
    translations="helpdesk",
    labels=LABELS,
    jobs=later_call("helpdesk.jobs:help_jobs"),
    alerts=later_call("helpdesk.dashboard:help_alerts"),
    menu=(
        MenuEntry("/aide/demandes", N_("Demandes d'aide")),
        MenuEntry("/aide", N_("Aide"), (*EVERYONE, VISITOR), "personal", with_page=True),
    ),
)

"""What the private app store brings to the appliance (its one registration)."""

from __future__ import annotations

from appliance.features import Feature, MenuEntry
from appliance.i18n import N_
from appstore import api, pages
from appstore.config import StoreConfig
from appstore.labels import LABELS
from appstore.packages import install_figures

FEATURE = Feature(
    name="appstore",
    order=40,
    config=("store", StoreConfig),
    routes=(pages.routes, api.api),
    templates_package="appstore",
    migrations_package="appstore",
    translations="appstore",
    labels=LABELS,
    site_figures=install_figures,
    menu=(
        MenuEntry("/applis/gestion", N_("Applications de l'établissement")),
        MenuEntry(
            "/applis", N_("Applications"), ("pupil", "teacher", "staff", "referent"), "personal"
        ),
    ),
)

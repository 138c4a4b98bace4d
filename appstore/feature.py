"""What the private app store brings to the appliance (its one registration)."""

from __future__ import annotations

from appliance.features import Feature, MenuEntry, Replacement
from appliance.i18n import N_
from appstore import api, pages
from appstore.config import StoreConfig
from appstore.labels import LABELS
from appstore.packages import install_figures, package_files

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
    replacement=Replacement(
        tables=("store_packages", "store_assignments", "store_downloads"),
        folder=lambda core: package_files(core).folder,
    ),
)

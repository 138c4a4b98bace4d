"""What the private app store brings to the appliance (its one registration)."""

from __future__ import annotations

from appliance.features import Feature, MenuEntry
from appstore import api, pages
from appstore.config import StoreConfig
from appstore.translations import CATALOGUE

FEATURE = Feature(
    name="appstore",
    order=40,
    config=("store", StoreConfig),
    routes=(pages.routes, api.api),
    templates_package="appstore",
    migrations_package="appstore",
    translations=CATALOGUE,
    menu=(
        MenuEntry("/applis/gestion", "apps.admin"),
        MenuEntry("/applis", "nav.apps", ("pupil", "teacher", "staff", "referent"), "personal"),
    ),
)

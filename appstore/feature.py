"""What the private app store brings to the appliance (its one registration)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.features import Feature, MenuEntry, Replacement, later, later_call
from appliance.i18n import N_
from appstore.config import StoreConfig
from appstore.labels import LABELS

if TYPE_CHECKING:
    from pathlib import Path

    from appliance.core import Core


def _package_folder(core: Core) -> Path:
    """Return the folder of the store's packages (copied whole for a replacement box)."""
    from appstore.packages import package_files

    return package_files(core).folder


FEATURE = Feature(
    name="appstore",
    order=40,
    config=("store", StoreConfig),
    routes=later("appstore.pages:routes", "appstore.api:api"),
    templates_package="appstore",
    migrations_package="appstore",
    translations="appstore",
    labels=LABELS,
    site_figures=later_call("appstore.packages:install_figures"),
    demo=later_call("appstore.demo:store_demo"),
    menu=(
        MenuEntry("/applis/gestion", N_("Applications de l'établissement")),
        MenuEntry(
            "/applis", N_("Applications"), ("pupil", "teacher", "staff", "referent"), "personal"
        ),
    ),
    replacement=Replacement(
        tables=("store_packages", "store_assignments", "store_downloads"),
        folder=_package_folder,
    ),
)

"""What the storage of pupils' and teachers' work brings to the appliance (its one registration)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.features import DashboardPanel, Feature, MenuEntry, Replacement, SessionHooks
from appliance.i18n import N_
from storage import classes_api, classes_pages, dashboard, files_pages, spaces_api
from storage.cli import backup, classes_group, personnel
from storage.config import ProductionsConfig
from storage.jobs import storage_jobs
from storage.labels import LABELS
from storage.site_figures import storage_figures
from storage.store import ProductionsStore
from storage.web_lifecycle import storage_alongside_web

if TYPE_CHECKING:
    from appliance.core import Core

_EVERYONE = ("pupil", "teacher", "staff", "referent")


async def _unlock_personnel(core: Core, person: str, password: str, session_hash: str) -> None:
    """Open (or create) the person's PERSONNEL key while the password is at hand."""
    if core.config.section(ProductionsConfig).enabled:
        await core.shared(ProductionsStore).unlock_at_login(person, password, session_hash)


def _forget_personnel(core: Core, session_hash: str) -> None:
    """Drop the session's PERSONNEL key from memory."""
    core.shared(ProductionsStore).keyring.forget(session_hash)


FEATURE = Feature(
    name="storage",
    order=5,
    config=("productions", ProductionsConfig),
    routes=(
        spaces_api.api,
        files_pages.routes,
        classes_api.api,
        classes_pages.routes,
        dashboard.routes,
    ),
    templates_package="storage",
    migrations_package="storage",
    jobs=storage_jobs,
    commands=(backup, personnel, classes_group),
    translations="storage",
    labels=LABELS,
    menu=(
        MenuEntry("/fichiers", N_("Mes fichiers"), _EVERYONE, "personal"),
        MenuEntry("/classe", N_("Ma classe"), ("pupil", "teacher", "referent"), "personal"),
    ),
    dashboard=(DashboardPanel("storage_panel.html", dashboard.storage_panel),),
    site_figures=storage_figures,
    sessions=SessionHooks(on_login=_unlock_personnel, on_logout=_forget_personnel),
    web_lifecycle=(storage_alongside_web,),
    replacement=Replacement(tables=("assignments",)),
)

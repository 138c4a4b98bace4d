"""What the storage of pupils' and teachers' work brings to the appliance (its one registration)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from appliance.features import (
    DashboardPanel,
    Feature,
    MenuEntry,
    Replacement,
    SessionHooks,
    later,
    later_call,
)
from appliance.i18n import N_
from storage.config import ProductionsConfig
from storage.labels import LABELS
from storage.settings_forms import STORAGE_FORMS

if TYPE_CHECKING:
    from appliance.core import Core

_EVERYONE = ("pupil", "teacher", "staff", "referent")


async def _unlock_personnel(core: Core, person: str, password: str, session_hash: str) -> None:
    """Open (or create) the person's PERSONNEL key while the password is at hand."""
    from storage.store import ProductionsStore

    if core.config.section(ProductionsConfig).enabled:
        await core.shared(ProductionsStore).unlock_at_login(person, password, session_hash)


async def _reseal_personnel(
    core: Core, person: str, old_password: str, password: str, session_hash: str
) -> None:
    """Seal PERSONNEL's key under the new password, so the next login opens it."""
    from storage.store import ProductionsStore
    from storage.vault import VaultError

    if not core.config.section(ProductionsConfig).enabled:
        return
    with contextlib.suppress(VaultError):  # no PERSONNEL key yet: nothing to re-seal
        await core.shared(ProductionsStore).reseal(
            session_hash, person, password, old_password=old_password
        )


def _forget_personnel(core: Core, session_hash: str) -> None:
    """Drop the session's PERSONNEL key from memory."""
    from storage.store import ProductionsStore

    core.shared(ProductionsStore).keyring.forget(session_hash)


FEATURE = Feature(
    name="storage",
    order=5,
    config=("productions", ProductionsConfig),
    routes=later(
        "storage.spaces_api:api",
        "storage.files_pages:routes",
        "storage.classes_api:api",
        "storage.classes_pages:routes",
        "storage.dashboard:routes",
    ),
    templates_package="storage",
    migrations_package="storage",
    jobs=later_call("storage.jobs:storage_jobs"),
    commands={
        "backup": "storage.cli:backup",
        "personnel": "storage.cli:personnel",
        "classes": "storage.cli:classes_group",
    },
    translations="storage",
    labels=LABELS,
    menu=(
        MenuEntry("/fichiers", N_("Mes fichiers"), _EVERYONE, "personal"),
        MenuEntry("/classe", N_("Ma classe"), ("pupil", "teacher", "referent"), "personal"),
    ),
    dashboard=(
        DashboardPanel("storage_panel.html", later_call("storage.dashboard:storage_panel")),
    ),
    demo=later_call("storage.demo:storage_history"),
    site_figures=later_call("storage.site_figures:storage_figures"),
    figures=later_call("storage.dashboard_figures:storage_figures"),
    alerts=later_call("storage.dashboard_figures:storage_alerts"),
    sessions=SessionHooks(
        on_login=_unlock_personnel,
        on_logout=_forget_personnel,
        on_password_change=_reseal_personnel,
    ),
    web_lifecycle=later("storage.web_lifecycle:storage_alongside_web"),
    settings_forms=STORAGE_FORMS,
    replacement=Replacement(tables=("assignments",)),
    # Pupils and staff open the box for their work (#16 scope 7).
    landing={"pupil": "/fichiers", "staff": "/fichiers"},
)

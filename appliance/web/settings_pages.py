"""The settings page: what a referent changes in a school year, and the effective config.

Each form is a :class:`~appliance.features.SettingsForm`: the kernel's own
(the maintenance windows) and every feature's (its filtering policy, its
quotas, its portal roles…). Posting one goes through
:func:`appliance.settings_change.change_settings`: validated with the whole
config, kept, applied by restarting the services. The effective config is
shown as sections of keys and values (secrets masked), not as the commented
file, whose comments are the administrator's, in English.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from appliance.config import DayName
from appliance.core import Core
from appliance.features import SettingsForm
from appliance.i18n import N_
from appliance.problems import UserError
from appliance.scheduler.closed_days import list_closed_days
from appliance.settings_change import change_settings
from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY
from appliance.web.rendering import render, say

routes = web.RouteTableDef()
_SECRET_WORDS: Final = ("password", "secret", "token", "key")
DAYS: Final[tuple[DayName, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def _windows(core: Core) -> Mapping[str, Any]:
    scheduler = core.config.scheduler
    return {
        "nightly": scheduler.nightly.hours,
        "weekly": scheduler.weekly.hours,
        "weekly_days": scheduler.weekly.days,
        "days": DAYS,
    }


def _window_values(core: Core, form: Any) -> Mapping[str, Any]:
    days = [str(day) for day in form.getall("weekly_days", [])]
    return {
        "scheduler": {
            "nightly": {"hours": str(form.get("nightly", "")).strip()},
            "weekly": {"hours": str(form.get("weekly", "")).strip(), "days": days},
        }
    }


KERNEL_FORMS: Final = (
    SettingsForm(
        "maintenance",
        N_("Créneaux de maintenance"),
        "settings_windows.html",
        _windows,
        _window_values,
    ),
)


def _forms(core: Core) -> list[SettingsForm]:
    return [*KERNEL_FORMS, *(form for f in core.features for form in f.settings_forms)]


def _sections(core: Core) -> list[dict[str, Any]]:
    """Return the effective config as sections of (key, value) rows, secrets masked."""
    dumped = core.config.model_dump(mode="json", by_alias=True)
    sections = []
    for name, section in dumped.items():
        rows: list[tuple[str, str]] = []
        _flatten(section, "", rows)
        sections.append({"name": name, "rows": rows})
    return sections


def _flatten(value: Any, prefix: str, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), rows)
        return
    secret = any(word in prefix.rsplit(".", 1)[-1].lower() for word in _SECRET_WORDS)
    if secret and value not in (None, "", []):
        rows.append((prefix, "••••••"))
    elif isinstance(value, list):
        rows.append((prefix, ", ".join(str(v) for v in value) if value else "—"))
    else:
        rows.append((prefix, "—" if value in (None, "") else str(value)))


async def _context(request: web.Request) -> dict[str, Any]:
    core = request.app[CORE_KEY]
    forms = [{"form": form, "context": await form.context(core)} for form in _forms(core)]
    return {
        "sections": _sections(core),
        "closed_days": await list_closed_days(core),
        "forms": forms,
        "saved": request.query.get("enregistre", ""),
        "failed": "",
        "error": "",
    }


@routes.get("/settings")
@require_role("referent")
async def settings(request: web.Request) -> web.StreamResponse:
    """Show the year's settings forms, the closed days and the effective config."""
    return render(request, "settings.html", await _context(request))


@routes.post("/settings/{key:[a-z-]{1,40}}")
@require_role("referent")
async def save(request: web.Request) -> web.StreamResponse:
    """Validate one form's values with the whole config, keep them, restart on them."""
    core = request.app[CORE_KEY]
    key = request.match_info["key"]
    form = next((f for f in _forms(core) if f.key == key), None)
    if form is None:
        raise web.HTTPNotFound
    posted = await request.post()
    try:
        values = form.values(core, posted)
        await change_settings(
            core, values, actor=actor_of(request), source=source_of(request), form=key
        )
    except UserError as err:
        context = await _context(request) | {"failed": key, "error": say(request, err)}
        return render(request, "settings.html", context, status=400)
    raise web.HTTPSeeOther(f"/settings?enregistre={key}#{key}")

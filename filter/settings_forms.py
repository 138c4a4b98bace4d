"""The filter's forms on the settings page: each group's policy, the teachers' scenes.

The per-group policy is the ``filter.groups`` list, written whole (a list
in the settings file replaces the file's list): each group keeps what the
form does not show (its own allow and deny lists, its answer). The scenes
are the named allowlists a teacher applies in one tap (« examen », « PIX »).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from appliance.features import SettingsForm
from appliance.i18n import N_
from filter.config import FilterConfig
from filter.labels import LABELS

if TYPE_CHECKING:
    from appliance.core import Core

ENGINES: Final = ("google", "bing", "duckduckgo", "brave")
YOUTUBE: Final = ("strict", "moderate", "off")


def _categories(core: Core) -> list[str]:
    """Return the categories a group may deny: the known ones and those already denied."""
    known = set(LABELS["filtering.category"])
    for group in core.config.section(FilterConfig).groups:
        known.update(group.denied_categories)
    return sorted(known)


async def _policy(core: Core) -> Mapping[str, Any]:
    return {
        "groups": core.config.section(FilterConfig).groups,
        "categories": _categories(core),
        "engines": ENGINES,
        "youtube": YOUTUBE,
    }


def _policy_values(core: Core, form: Any) -> Mapping[str, Any]:
    offered = set(_categories(core))
    groups = []
    for group in core.config.section(FilterConfig).groups:
        dumped = group.model_dump(mode="json")
        name = group.name
        denied = [str(c) for c in form.getall(f"deny-{name}", []) if str(c) in offered]
        dumped["denied_categories"] = denied
        safesearch = {engine: form.get(f"safe-{name}-{engine}") == "1" for engine in ENGINES}
        safesearch["youtube"] = str(form.get(f"safe-{name}-youtube", "moderate"))
        dumped["safesearch"] = safesearch
        groups.append(dumped)
    return {"filter": {"groups": groups}}


async def _scenes(core: Core) -> Mapping[str, Any]:
    lists = core.config.section(FilterConfig).allowlists
    return {"scenes": [(name, " ".join(domains)) for name, domains in sorted(lists.items())]}


def _scenes_values(core: Core, form: Any) -> Mapping[str, Any]:
    lists = {
        name: str(form.get(f"scene-{name}", "")).split()
        for name in core.config.section(FilterConfig).allowlists
    }
    new_name = str(form.get("new_name", "")).strip()
    if new_name:
        lists[new_name] = str(form.get("new_domains", "")).split()
    return {"filter": {"allowlists": lists}}


FILTER_FORMS: Final = (
    SettingsForm(
        "filtrage", N_("Filtrage par groupe"), "filter_settings.html", _policy, _policy_values
    ),
    SettingsForm(
        "listes-autorisees",
        N_("Listes autorisées des enseignants (examens, PIX…)"),
        "filter_scenes.html",
        _scenes,
        _scenes_values,
    ),
)

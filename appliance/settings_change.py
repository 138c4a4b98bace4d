"""Change settings from the web UI: validated like a config file, kept, then applied.

The values a settings form gives are laid over the config the box runs
on and the whole config is built again, so a value is refused for exactly
the reasons a config file would be, with the key named in plain French
(:mod:`appliance.validation_fr`). Only then are they merged into
``DATA_DIR/settings.json``, audited, and every process told to restart on
the new config (the first run does the same). The centre's overlay still
goes over them: what it locks stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from appliance.config import PreauConfig, build_config
from appliance.config_overlay import deep_update
from appliance.core import RESTART_TOPIC
from appliance.problems import UserError
from appliance.site_settings import write_settings
from appliance.validation_fr import joined, problems

if TYPE_CHECKING:
    from appliance.core import Core


class SettingsRefused(UserError):
    """Settings that would not make a valid config; names the keys."""


def candidate(config: PreauConfig, values: Mapping[str, Any]) -> PreauConfig:
    """Return the config the box would have with ``values`` set over ``config``."""
    current = config.model_dump(mode="json", by_alias=True)
    try:
        return build_config(deep_update(current, dict(values)))
    except ValidationError as err:
        raise SettingsRefused(joined(problems(err))) from err


async def change_settings(
    core: Core, values: Mapping[str, Any], *, actor: str, source: str, form: str
) -> None:
    """Validate ``values`` with the whole config, keep them, and restart on them."""
    candidate(core.config, values)
    await core.executor.run(write_settings, core.config.site.data_dir, values)
    async with core.db.write() as tx:
        await core.audit.record_in(
            tx, actor=actor, source=source, action="settings.change", target=form,
            outcome="success", detail=", ".join(sorted(_keys(values))),
        )  # fmt: skip
        await tx.notify(RESTART_TOPIC)


def _keys(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    found: list[str] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        found += _keys(value, path + ".") if isinstance(value, Mapping) else [path]
    return found

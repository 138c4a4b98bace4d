"""Settings the referent set in the web UI, laid between the local file and the centre's overlay.

The box's config is the TOML file under ``/etc/preau`` (the administrator's,
written by hand or by the package from the commented defaults). What the
referent sets on the pages (the first-run page today: the school, the
interfaces, the certificate, the directory) is kept apart, in one JSON file
of nested config values at ``DATA_DIR/settings.json``, because the services
run as ``preau`` and may not write to ``/etc``. When the config is loaded
(:func:`appliance.config.load_config`) the file's values go over the local
file's, and the centre's overlay goes over both: the local file says how the
box is built, the page says what the school chose, the centre's locks win.

The file is written whole and atomically (:func:`write_settings` merges the
new values into the old); a file that is not valid JSON, or whose values do
not validate, stops the config from loading with its name and the key, as a
bad local file does (ground rule 3).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from appliance.atomic import write_atomic
from appliance.config_overlay import deep_update

SETTINGS_NAME: Final = "settings.json"
# Where the data lives is the local file's to say: a page cannot move it.
MACHINE_KEYS: Final = (("site", "data_dir"), ("state", "path"))


class SettingsError(ValueError):
    """The settings file cannot be read as an object of config values."""


def settings_path(data_dir: Path) -> Path:
    """Return where the settings of ``data_dir``'s box live."""
    return data_dir / SETTINGS_NAME


def read_settings(data_dir: Path) -> dict[str, Any]:
    """Return the settings set in the web UI ({} when there are none)."""
    path = settings_path(data_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise SettingsError(f"{path}: cannot read: {err}") from err
    try:
        values = json.loads(raw)
    except ValueError as err:
        raise SettingsError(f"{path}: not valid JSON: {err}") from err
    if not isinstance(values, dict):
        raise SettingsError(f"{path}: not an object of config values")
    for section, key in MACHINE_KEYS:
        part = values.get(section)
        if isinstance(part, dict):
            part.pop(key, None)
    return values


def write_settings(data_dir: Path, values: Mapping[str, Any]) -> None:
    """Merge ``values`` into the settings file, atomically."""
    merged = deep_update(read_settings(data_dir), values)
    text = json.dumps(merged, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    write_atomic(settings_path(data_dir), text, mode=0o640)

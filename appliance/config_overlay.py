"""Settings a remote authority puts over the local file, and how processes pick them up.

The kernel does not know who writes the overlay (the central sync does, see
``sync/``): it only knows one JSON file of nested config values at
``DATA_DIR/config-overlay.json``, already merged by the writer's precedence
rule. :func:`overlaid` lays it over the local file's values when the config
is loaded; if the result does not validate, the local file alone is used and
the reason is logged, so a bad overlay never stops a service.

Every process running services watches the ``config.overlay`` change topic
(:class:`appliance.core.Core`): when the file's digest differs from the one it
started with, it stops its services and starts again on the new config.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from appliance.atomic import write_atomic

_LOGGER = logging.getLogger(__name__)

OVERLAY_NAME: Final = "config-overlay.json"
# The overlay's one key that is not a config value: the dotted keys the writer
# locks. A setting a feature lets people change elsewhere (the portal's role
# rules on their page) follows the overlay for these, whatever was changed there.
LOCKED: Final = "_locked"
# The change topic a writer notifies after replacing the overlay.
OVERLAY_TOPIC: Final = "config.overlay"


def overlay_path(data_dir: Path) -> Path:
    """Return where the overlay of ``data_dir``'s box lives."""
    return data_dir / OVERLAY_NAME


def read_overlay(data_dir: Path) -> tuple[dict[str, Any], str]:
    """Return the overlay's values and digest ("" when there is none or it is unreadable)."""
    try:
        raw = overlay_path(data_dir).read_bytes()
    except FileNotFoundError:
        return {}, ""
    except OSError as err:
        _LOGGER.warning("Config overlay unreadable, local settings only: %s", err)
        return {}, ""
    try:
        values = json.loads(raw)
    except ValueError as err:
        _LOGGER.warning("Config overlay is not JSON, local settings only: %s", err)
        return {}, ""
    if not isinstance(values, dict):
        _LOGGER.warning("Config overlay is not an object, local settings only")
        return {}, ""
    values.pop(LOCKED, None)
    return values, hashlib.sha256(raw).hexdigest()


def locked_keys(data_dir: Path) -> frozenset[str]:
    """Return the dotted keys the overlay locks (none without an overlay)."""
    try:
        values = json.loads(overlay_path(data_dir).read_bytes())
    except (OSError, ValueError):
        return frozenset()
    locked = values.get(LOCKED, []) if isinstance(values, dict) else []
    return frozenset(str(key) for key in locked) if isinstance(locked, list) else frozenset()


def is_locked(locked: frozenset[str], key: str) -> bool:
    """Say whether ``key`` or a section holding it is locked."""
    parts = key.split(".")
    return any(".".join(parts[:end]) in locked for end in range(1, len(parts) + 1))


def overlay_digest(data_dir: Path) -> str:
    """Return the digest of the overlay file now ("" without one)."""
    return read_overlay(data_dir)[1]


def _previous_path(data_dir: Path) -> Path:
    return data_dir / "config-overlay.previous.json"


def _pending_path(data_dir: Path) -> Path:
    return data_dir / "config-overlay.pending"


def write_overlay(data_dir: Path, values: Mapping[str, Any], locked: Iterable[str] = ()) -> str:
    """Replace the overlay whole, on trial until :func:`confirm_overlay`; return its digest.

    The file it replaces is kept: if the services cannot start on the new one,
    :func:`revert_overlay` puts it back (``preau run`` does so by itself).
    ``locked``: dotted keys nothing else on the box may change (in the same file,
    so a revert puts back the locks with the values).
    """
    content = {**values, LOCKED: sorted(set(locked))} if locked else dict(values)
    raw = json.dumps(content, sort_keys=True, ensure_ascii=False, indent=1).encode()
    current = overlay_path(data_dir)
    if not _pending_path(data_dir).exists():
        try:
            write_atomic(_previous_path(data_dir), current.read_bytes(), mode=0o640)
        except FileNotFoundError:
            _previous_path(data_dir).unlink(missing_ok=True)
        write_atomic(_pending_path(data_dir), b"", mode=0o640)
    write_atomic(current, raw, mode=0o640)
    return hashlib.sha256(raw).hexdigest()


def overlay_on_trial(data_dir: Path) -> bool:
    """Say whether the overlay is on trial (written, not yet confirmed)."""
    return _pending_path(data_dir).exists()


def confirm_overlay(data_dir: Path) -> None:
    """Keep the overlay on trial: the services work on it."""
    _pending_path(data_dir).unlink(missing_ok=True)


def revert_overlay(data_dir: Path) -> bool:
    """Put back the overlay a trial replaced; return False when none was on trial."""
    if not _pending_path(data_dir).exists():
        return False
    previous = _previous_path(data_dir)
    try:
        write_atomic(overlay_path(data_dir), previous.read_bytes(), mode=0o640)
    except FileNotFoundError:
        overlay_path(data_dir).unlink(missing_ok=True)
    _pending_path(data_dir).unlink()
    _LOGGER.warning("Config overlay on trial reverted to the previous one")
    return True


def deep_update(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``overlay``'s leaves put over it (nested mappings merged)."""
    result = dict(base)
    for key, value in overlay.items():
        current = result.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            result[key] = deep_update(current, value)
        else:
            result[key] = value
    return result

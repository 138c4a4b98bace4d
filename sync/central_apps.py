"""The centre's apps reach this school's store (scope 2: app assignments, #6.4, #7.37).

A bundle names apps (:class:`sync.policy.CentralApp`); each package is a
target of the signed repository, downloaded and checked by python-tuf with
the rest of the policy (:func:`sync.trust.fetch_policy`), so a package that
is not the one the centre signed never reaches the store and the last good
policy stays. Here the merged apps go to the store through its declared
interface (:mod:`appstore.central`), at every reading of the centre; what the
store refused, and why, is kept on the link for the referent's page.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appstore.central import CentralPackage, keep_central_packages
from sync.policy import CentralApp, MergedPolicy
from sync.state import LinkState

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.problems import Problem

_LOGGER = logging.getLogger(__name__)


def assignment(value: str) -> tuple[str, str]:
    """Return a bundle's "role:pupil" (or "school") as the store's (kind, target)."""
    kind, _, target = value.partition(":")
    return kind, target


def package_of(app: CentralApp, path: Path | None) -> CentralPackage:
    """Return what the store takes for one app downloaded to ``path`` (None: it holds it)."""
    return CentralPackage(
        platform=app.platform,
        name=app.name,
        package_id=app.package_id,
        version_name=app.version_name,
        filename=app.filename,
        sha256=app.sha256,
        size=app.size,
        path=path,
        version_code=app.version_code,
        description=app.description,
        assignments=tuple(assignment(value) for value in app.assign),
    )


def app_state(
    app: CentralApp, origin: str, refused: dict[tuple[str, str], Problem]
) -> dict[str, Any]:
    """Return one app's line on the referent's page."""
    problem = refused.get((app.platform, app.package_id))
    return {
        "name": app.name,
        "platform": app.platform,
        "version": app.version_name,
        "origin": origin,
        "problem": problem.message if problem else "",
        # Kept as JSON: an exception among the values is kept as its text.
        "problem_values": {
            key: value if isinstance(value, int | float) else str(value)
            for key, value in (problem.values if problem else {}).items()
        },
    }


async def keep_apps(
    core: Core, link: LinkState, merged: MergedPolicy, files: dict[str, Path]
) -> None:
    """Keep the store's centre apps in step with the policy; note each app's state."""
    packages = [package_of(app, files.get(app.target)) for app, _origin in merged.apps]
    kept = await keep_central_packages(core, packages)
    refused = dict(kept.refused)
    link.central_apps = [app_state(app, origin, refused) for app, origin in merged.apps]
    if kept.added or kept.removed or kept.reassigned or kept.refused:
        _LOGGER.info(
            "Centre's apps: %d added, %d removed, %d reassigned, %d refused",
            kept.added,
            kept.removed,
            kept.reassigned,
            len(kept.refused),
        )

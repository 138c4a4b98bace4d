"""Apps the collectivité's centre hands to this school's store (#6.4, #7.37): a declared interface.

The sync feature reads the centre's signed bundles, lets python-tuf download
and check each package (length and SHA-256 signed by the repository), and
calls :func:`keep_central_packages` with them. Each package then goes through
the same checks as a referent's upload (:func:`appstore.packages.upload`: the
declaration, what the package says of itself, the antivirus) and is recorded
as uploaded by « centre ». The store is kept in step at every reading of the
centre: a package it no longer names is removed, one whose assignments
changed is reassigned. The centre's packages are locked: one the referent
deletes comes back at the next reading; the referent's own are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from appliance.i18n import N_
from appliance.problems import Problem
from appstore.packages import (
    Declared,
    StoreError,
    delete_package,
    packages_by,
    set_assignments,
    upload,
)

if TYPE_CHECKING:
    from appliance.core import Core

FROM_CENTRE: Final = "centre"


@dataclass(frozen=True, slots=True)
class CentralPackage:
    """A package the centre signed for this site, on disk, and who may install it."""

    platform: str
    name: str
    package_id: str
    version_name: str
    filename: str
    sha256: str
    size: int
    # The downloaded file; None for a package the store already holds (not fetched again).
    path: Path | None
    version_code: int = 0
    description: str = ""
    # ("school", ""), ("role", "pupil"), ("class", "6A"), ("group", "…")
    assignments: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Kept:
    """What one keeping in step did."""

    added: int = 0
    removed: int = 0
    reassigned: int = 0
    # The packages the store refused, by platform and app id, and why.
    refused: list[tuple[tuple[str, str], Problem]] = field(default_factory=list)


async def held_sha256(core: Core) -> frozenset[str]:
    """Return the SHA-256 of every package of the centre the store holds (none to fetch again)."""
    return frozenset(str(p["sha256"]) for p in await packages_by(core, FROM_CENTRE))


async def _take(core: Core, package: CentralPackage) -> int:
    """Store one package as a referent's upload is stored; return its record's id."""
    # fetch_policy downloads every package the store does not hold.
    assert package.path is not None  # noqa: S101
    declared = Declared(
        platform=package.platform, name=package.name, package_id=package.package_id,
        version_name=package.version_name, filename=package.filename,
        version_code=package.version_code, description=package.description,
    )  # fmt: skip
    stored = await upload(
        core, declared, core.executor.file_chunks(package.path), actor=FROM_CENTRE, source="sync"
    )
    if stored["sha256"] != package.sha256 or int(stored["size"]) != package.size:
        await delete_package(core, int(stored["id"]), actor=FROM_CENTRE, source="sync")
        raise StoreError(N_("file : différent de ce que le centre a signé"))
    return int(stored["id"])


async def keep_central_packages(core: Core, wanted: Sequence[CentralPackage]) -> Kept:
    """Make the centre's packages in the store exactly ``wanted``, each with its assignments."""
    # One read of the centre's packages and their assignments per reading of the centre.
    held = {
        (str(p["sha256"]), str(p["platform"]), str(p["package_id"])): p
        for p in await packages_by(core, FROM_CENTRE)
    }
    kept = Kept()
    named = set()
    for package in wanted:
        key = (package.sha256, package.platform, package.package_id)
        named.add(key)
        assignments = sorted(package.assignments)
        try:
            current = held.get(key)
            if current is not None:
                if sorted((a["kind"], a["target"]) for a in current["assignments"]) == assignments:
                    continue
                package_id = int(current["id"])
                kept.reassigned += 1
            else:
                package_id = await _take(core, package)
                kept.added += 1
            await set_assignments(
                core, package_id, assignments, actor=FROM_CENTRE, source="sync", only_known=False
            )
        except StoreError as err:
            kept.refused.append(((package.platform, package.package_id), err.problem))
    for key, stale in held.items():
        if key not in named:
            await delete_package(core, int(stale["id"]), actor=FROM_CENTRE, source="sync")
            kept.removed += 1
    return kept

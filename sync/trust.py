"""The box's side of the signed repository: python-tuf's client, on a clock we trust.

Blocking (urllib3 under python-tuf): the sync service calls it in the
core's executor. :func:`fetch_policy` runs TUF's whole client workflow (root
rotation, timestamp, snapshot, targets: signatures, thresholds, versions,
expiry, lengths and digests), then downloads the fleet file and the bundles
meant for this site. Any refusal raises :class:`PolicyFetchError`; the
caller keeps the last good policy running.

The clock: python-tuf judges expiry against its own ``datetime.now()``.
A box without a real-time clock may boot in 1970 (everything "not yet
expired") or at its image date. :func:`fetch_policy` therefore takes the
reference time from :mod:`sync.clock` and is never called before that clock
is trusted. python-tuf has no parameter for it, so it is set on the trusted
set the updater builds; tuf is pinned below 8 for that reason, and
``tests/sync/test_trust.py`` fails if the attribute moves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import urllib3
from tuf.api import exceptions as tuf_errors
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, Root
from tuf.api.serialization import DeserializationError
from tuf.ngclient import Updater

from appliance.atomic import write_atomic
from appliance.i18n import N_
from appliance.problems import UserError
from sync.policy import Bundle, applies_to
from sync.pra_archive import PraError, check_recipient
from sync.repository import FLEET_TARGET


class PolicyFetchError(UserError):
    """The repository could not be read or was refused: the last good policy stays."""


@dataclass(frozen=True, slots=True)
class RepositoryView:
    """What the box read from the repository on one poll."""

    version: int  # the targets role's version: the policy's version
    groups: dict[str, list[str]]
    revoked: list[str]
    bundles: dict[str, Bundle]  # by target path
    # The age recipient replacement backups are encrypted to ("": none published).
    pra_recipient: str = ""
    # The centre's app packages for this site, downloaded and checked: target → file.
    app_files: dict[str, Path] = field(default_factory=dict)


def pin_root(metadata_dir: Path, repository: str, root_sha256: str, timeout: float = 10.0) -> None:
    """Download the repository's root and keep it if its digest is the token's."""
    try:
        answer = urllib3.request(
            "GET", f"{repository}/metadata/root.json", timeout=timeout, retries=False
        )
    except urllib3.exceptions.HTTPError as err:
        raise PolicyFetchError(N_("dépôt central injoignable : %(error)s"), error=str(err)) from err
    if answer.status != 200:
        raise PolicyFetchError(
            N_("dépôt central : réponse %(status)s pour root.json"), status=answer.status
        )
    if hashlib.sha256(answer.data).hexdigest() != root_sha256:
        raise PolicyFetchError(
            N_("la racine du dépôt n'est pas celle que nomme le jeton : inscription refusée")
        )
    Metadata[Root].from_bytes(answer.data)  # it must at least be a root
    write_atomic(metadata_dir / "root.json", answer.data, mode=0o640)


MAX_ROOT_STEPS: Final = 32  # python-tuf's own bound on a root chain walked at once


def follow_roots(metadata_dir: Path, repository: str, timeout: float = 10.0) -> int:
    """Walk the root chain past the trusted root, as TUF's client does; return the version.

    Each next root must be signed by the threshold of the trusted root's root
    keys and by its own, with the next version number; expiry is not judged on
    the way (TUF 5.3). Needed before the signed time when the centre rotated its
    online key: the time is signed with the new key, which only the new root names.
    """
    current = Metadata[Root].from_file(str(metadata_dir / "root.json"))
    for _ in range(MAX_ROOT_STEPS):
        version = current.signed.version + 1
        try:
            answer = urllib3.request(
                "GET", f"{repository}/metadata/{version}.root.json", timeout=timeout, retries=False
            )
        except urllib3.exceptions.HTTPError as err:
            raise PolicyFetchError(
                N_("dépôt central injoignable : %(error)s"), error=str(err)
            ) from err
        if answer.status in (403, 404):
            break
        try:
            following = Metadata[Root].from_bytes(answer.data)
            current.verify_delegate(Root.type, following)
            following.verify_delegate(Root.type, following)
        except (DeserializationError, UnsignedMetadataError, ValueError) as err:
            raise PolicyFetchError(
                N_("racine %(version)s du dépôt refusée : %(error)s"),
                version=version, error=str(err)[:200],
            ) from err  # fmt: skip
        if following.signed.version != version:
            raise PolicyFetchError(N_("racine %(version)s du dépôt refusée"), version=version)
        write_atomic(metadata_dir / "root.json", answer.data, mode=0o640)
        current = following
    return int(current.signed.version)


def trusted_root(metadata_dir: Path) -> Root:
    """Return the root metadata the box trusts now."""
    root: Root = Metadata[Root].from_file(str(metadata_dir / "root.json")).signed
    return root


def fetch_policy(
    metadata_dir: Path,
    targets_dir: Path,
    repository: str,
    uai: str,
    reference_time: dt.datetime,
    held: frozenset[str] = frozenset(),
) -> RepositoryView:
    """Refresh the signed metadata and read this site's bundles.

    ``held``: SHA-256 of app packages the store already holds: their signed
    length and hash are still checked, their file is neither fetched nor hashed again.
    """
    targets_dir.mkdir(parents=True, exist_ok=True)
    try:
        updater = Updater(
            metadata_dir=str(metadata_dir),
            metadata_base_url=f"{repository}/metadata/",
            target_dir=str(targets_dir),
            target_base_url=f"{repository}/targets/",
            bootstrap=None,
        )
        updater._trusted_set.reference_time = reference_time  # see the docstring
        updater.refresh()
        fleet = json.loads(_target(updater, FLEET_TARGET) or b"{}")
        groups: dict[str, list[str]] = {
            str(k): [str(u) for u in v] for k, v in dict(fleet.get("groups", {})).items()
        }
        wanted = ["bundles/all.json", f"bundles/site/{uai}.json"]
        wanted += [f"bundles/group/{name}.json" for name, sites in groups.items() if uai in sites]
        bundles = {}
        for path in wanted:
            data = _target(updater, path)
            if data is not None and applies_to(path, uai, groups):
                bundles[path] = Bundle.model_validate_json(data)
        app_files = _download_apps(updater, bundles.values(), held)
        targets = updater._trusted_set.targets  # its version is the policy's
    except PolicyFetchError:
        raise  # ours already says why (a ValueError: not to be wrapped below)
    except tuf_errors.ExpiredMetadataError as err:
        raise PolicyFetchError(
            N_("métadonnées du dépôt expirées : %(error)s"), error=str(err)
        ) from err
    except tuf_errors.BadVersionNumberError as err:
        raise PolicyFetchError(
            N_("version plus ancienne refusée (rejeu ?) : %(error)s"), error=str(err)
        ) from err
    except tuf_errors.UnsignedMetadataError as err:
        raise PolicyFetchError(
            N_("signature du dépôt refusée : %(error)s"), error=str(err)
        ) from err
    except (tuf_errors.RepositoryError, ValueError) as err:
        raise PolicyFetchError(N_("dépôt central refusé : %(error)s"), error=str(err)) from err
    except (tuf_errors.DownloadError, OSError, urllib3.exceptions.HTTPError) as err:
        raise PolicyFetchError(N_("dépôt central injoignable : %(error)s"), error=str(err)) from err
    return RepositoryView(
        version=int(targets.version),
        groups=groups,
        revoked=[str(box) for box in fleet.get("revoked", [])],
        bundles=bundles,
        pra_recipient=_recipient(fleet.get("pra_recipient", "")),
        app_files=app_files,
    )


def _download_apps(
    updater: Updater, bundles: Iterable[Bundle], held: frozenset[str]
) -> dict[str, Path]:
    """Download (or find cached) the app packages the store lacks, checked by python-tuf."""
    files: dict[str, Path] = {}
    for bundle in bundles:
        for app in bundle.apps:
            info = updater.get_targetinfo(app.target)
            if info is None or info.length != app.size or info.hashes.get("sha256") != app.sha256:
                raise PolicyFetchError(
                    N_("paquet %(target)s : absent du dépôt ou différent de ce qu'il signe"),
                    target=app.target,
                )
            if app.sha256 in held:
                continue
            try:
                cached = updater.find_cached_target(info) or updater.download_target(info)
            except tuf_errors.RepositoryError as err:
                raise PolicyFetchError(
                    N_("paquet %(target)s refusé : %(error)s"), target=app.target, error=str(err)
                ) from err
            files[app.target] = Path(cached)
    return files


def _recipient(value: Any) -> str:
    """Return the fleet's backup recipient if it is a well-formed age key, else ""."""
    try:
        return check_recipient(str(value)) if value else ""
    except PraError:
        return ""


def _target(updater: Updater, path: str) -> bytes | None:
    info = updater.get_targetinfo(path)
    if info is None:
        return None
    cached = updater.find_cached_target(info)
    if cached is None:
        cached = updater.download_target(info)
    return Path(cached).read_bytes()


def read_json(path: Path) -> Any:
    """Return a JSON file's value, or None when it is missing."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None

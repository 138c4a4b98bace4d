"""The central team's signed repository: static files any web server can serve.

Built with python-tuf's Metadata API (The Update Framework): four roles with
keys, thresholds, versions and expiry.

- **root** (offline key, 1 year): which keys sign which role. ``init`` writes
  its key to ``keys/root.pem``; the central team moves it offline and brings
  it back only to renew it (``root-renew``, before the expiry ``refresh`` and
  ``serve`` warn about two months ahead) or to rotate the online key.
- **targets** (30 days): lists the bundles and the fleet file with their
  lengths and digests.
- **snapshot** and **timestamp** (online key; the timestamp lives one day):
  ``preau-central serve`` re-signs the timestamp every hour, so a centre that
  stops publishing is seen as stale by the boxes within a day, and a box that
  cannot reach the centre keeps its last good policy (it never stops).

Publication is atomic for readers: with consistent snapshots every version
of every file has its own name, and ``timestamp.json`` is replaced last.

Layout of the central directory::

    keys/root.pem keys/targets.pem keys/online.pem   private keys (0600)
    repository/metadata/…  repository/targets/…     what nginx serves
    intake/…                                        see sync.intake
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from appliance.atomic import write_atomic
from appliance.i18n import N_
from appliance.problems import UserError
from sync.policy import Bundle

ROLES: Final = ("root", "targets", "snapshot", "timestamp")
KEY_OF_ROLE: Final = {
    "root": "root",
    "targets": "targets",
    "snapshot": "online",
    "timestamp": "online",
}
LIFETIME: Final = {
    "root": dt.timedelta(days=365),
    "targets": dt.timedelta(days=30),
    "snapshot": dt.timedelta(days=30),
    "timestamp": dt.timedelta(days=1),
}
FLEET_TARGET: Final = "fleet.json"
_SERIALIZER: Final = JSONSerializer(compact=False)


class RepositoryError(UserError):
    """The central repository cannot do what was asked."""


@dataclass(frozen=True, slots=True)
class CentralPaths:
    """Where the central directory keeps each part."""

    root: Path

    @property
    def keys(self) -> Path:
        """Return the private keys' folder."""
        return self.root / "keys"

    @property
    def metadata(self) -> Path:
        """Return the served metadata folder."""
        return self.root / "repository" / "metadata"

    @property
    def targets(self) -> Path:
        """Return the served targets folder."""
        return self.root / "repository" / "targets"

    @property
    def intake(self) -> Path:
        """Return the intake's folder (boxes, tokens, reports)."""
        return self.root / "intake"

    @property
    def settings(self) -> Path:
        """Return the centre's own settings (URLs the tokens carry)."""
        return self.root / "central.json"


# The central team is told this long before the root expires (refresh, serve).
ROOT_WARNING: Final = dt.timedelta(days=60)


def now_utc() -> dt.datetime:
    """Return the current UTC time, to the second (TUF's dates have no fraction)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _new_key(path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomic(path, pem, mode=0o600)


def load_signer(path: Path) -> CryptoSigner:
    """Return a signer for the Ed25519 private key in ``path``."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as err:
        raise RepositoryError(
            N_("clé absente : %(path)s (clé hors ligne à rapporter ?)"), path=str(path)
        ) from err
    if not isinstance(key, Ed25519PrivateKey):
        raise RepositoryError(N_("%(path)s n'est pas une clé Ed25519"), path=str(path))
    return CryptoSigner(key, SSlibKey.from_crypto(key.public_key()))


class CentralRepository:
    """Create, publish into and re-sign the central repository."""

    def __init__(self, root: Path) -> None:
        """Work on the central directory ``root``."""
        self.paths = CentralPaths(root)

    # -- creation -------------------------------------------------------------

    def init(self, repo_url: str, intake_url: str, now: dt.datetime | None = None) -> None:
        """Create the keys, an empty signed repository and the centre's settings."""
        paths = self.paths
        if (paths.metadata / "root.json").exists():
            raise RepositoryError(N_("dépôt déjà créé dans %(path)s"), path=str(paths.root))
        for name in ("root", "targets", "online"):
            _new_key(paths.keys / f"{name}.pem")
        now = now or now_utc()
        root = Root(expires=now + LIFETIME["root"], consistent_snapshot=True)
        for role in ROLES:
            root.add_key(self._signer(role).public_key, role)
        self._write_versioned("root", Metadata(root))
        write_atomic(paths.metadata / "root.json", (paths.metadata / "1.root.json").read_bytes())
        settings = {"repository": repo_url.rstrip("/"), "intake": intake_url.rstrip("/")}
        write_atomic(paths.settings, json.dumps(settings, indent=1), mode=0o600)
        self._write_targets({}, now)

    def settings(self) -> dict[str, str]:
        """Return the centre's URLs."""
        try:
            values: dict[str, str] = json.loads(self.paths.settings.read_text())
        except FileNotFoundError as err:
            raise RepositoryError(
                N_("pas de dépôt dans %(path)s : lancez « preau-central init »"),
                path=str(self.paths.root),
            ) from err
        return values

    # -- reading --------------------------------------------------------------

    def _signer(self, role: str) -> CryptoSigner:
        return load_signer(self.paths.keys / f"{KEY_OF_ROLE[role]}.pem")

    def _latest(self, role: str) -> Metadata[Any]:
        if role == "timestamp":
            path = self.paths.metadata / "timestamp.json"
            if not path.exists():
                raise FileNotFoundError(path)
            return Metadata.from_file(str(path))
        versions = [
            int(path.name.split(".", 1)[0]) for path in self.paths.metadata.glob(f"*.{role}.json")
        ]
        if not versions:
            raise RepositoryError(N_("rôle %(role)s absent du dépôt"), role=role)
        return Metadata.from_file(str(self.paths.metadata / f"{max(versions)}.{role}.json"))

    def root_bytes(self) -> bytes:
        """Return the current root metadata (the trust anchor a token names)."""
        return (self.paths.metadata / "root.json").read_bytes()

    def targets(self) -> dict[str, bytes]:
        """Return every published target's content, by path."""
        targets: Targets = self._latest("targets").signed
        return {
            path: self._stored(path, info.hashes["sha256"]).read_bytes()
            for path, info in targets.targets.items()
        }

    def _stored(self, path: str, sha256: str) -> Path:
        """Return where a target's content is served (TUF's consistent name: dir/HASH.name)."""
        folder, _, name = path.rpartition("/")
        return self.paths.targets / folder / f"{sha256}.{name}"

    def timestamp_version(self) -> int:
        """Return the version of the published timestamp (0 before the first)."""
        try:
            return int(self._latest("timestamp").signed.version)
        except FileNotFoundError:
            return 0

    def fleet(self) -> dict[str, Any]:
        """Return the fleet file: groups of sites and revoked boxes."""
        raw = self.targets().get(FLEET_TARGET)
        fleet: dict[str, Any] = json.loads(raw) if raw else {}
        fleet.setdefault("groups", {})
        fleet.setdefault("revoked", [])
        return fleet

    # -- publishing -----------------------------------------------------------

    def publish_bundle(
        self,
        bundle: Bundle,
        now: dt.datetime | None = None,
        app_files: dict[str, bytes] | None = None,
    ) -> str:
        """Sign and publish one bundle (and its apps' packages); return its target path."""
        path = bundle_target(bundle)
        data = bundle.model_dump_json(indent=1).encode()
        current = self.targets()
        current[path] = data
        files = app_files or {}
        for app in bundle.apps:
            if app.target not in files and app.target not in current:
                raise RepositoryError(N_("paquet absent : %(target)s"), target=app.target)
        current.update(files)
        # A package no bundle names any more leaves the repository with its last bundle.
        named = {
            app.target
            for target, content in current.items()
            if target.startswith("bundles/")
            for app in Bundle.model_validate_json(content).apps
        }
        for target in [t for t in current if t.startswith("apps/") and t not in named]:
            del current[target]
        self._write_targets(current, now or now_utc())
        return path

    def set_group(self, group: str, uais: list[str], now: dt.datetime | None = None) -> None:
        """Say which sites (UAIs) form ``group``."""
        fleet = self.fleet()
        fleet["groups"][group] = sorted(set(uais))
        self._publish_fleet(fleet, now)

    def revoke(self, box_id: str, now: dt.datetime | None = None) -> None:
        """Publish that ``box_id`` is revoked (the intake refuses it too)."""
        fleet = self.fleet()
        fleet["revoked"] = sorted({*fleet["revoked"], box_id})
        self._publish_fleet(fleet, now)

    def set_pra_recipient(self, recipient: str, now: dt.datetime | None = None) -> None:
        """Publish the age recipient boxes encrypt their replacement backups to."""
        fleet = self.fleet()
        fleet["pra_recipient"] = recipient
        self._publish_fleet(fleet, now)

    def _publish_fleet(self, fleet: dict[str, Any], now: dt.datetime | None) -> None:
        current = self.targets()
        current[FLEET_TARGET] = json.dumps(fleet, sort_keys=True, indent=1).encode()
        self._write_targets(current, now or now_utc())

    def root_expires(self) -> dt.datetime:
        """Return when the current root expires (every box's trust ends there unless renewed)."""
        root: Root = self._latest("root").signed
        return root.expires

    def renew_root(
        self,
        *,
        root_key: Path | None = None,
        rotate_online: bool = False,
        now: dt.datetime | None = None,
    ) -> int:
        """Sign the next root version, a year long; return its version.

        Boxes follow the chain themselves (python-tuf fetches ``N+1.root.json``
        signed by root N's key), so renewing before the expiry keeps every box
        trusting: the anchors' outage of an expired root never happens. With
        ``rotate_online`` the snapshot and timestamp roles get a new key and
        everything is re-signed with it. ``root_key`` is the offline key,
        brought back for the occasion (default ``keys/root.pem``).
        """
        now = now or now_utc()
        signer = load_signer(root_key or self.paths.keys / "root.pem")
        metadata: Metadata[Root] = self._latest("root")
        root = metadata.signed
        if signer.public_key.keyid not in root.roles["root"].keyids:
            raise RepositoryError(N_("cette clé n'est pas la clé racine du dépôt"))
        root.version += 1
        root.expires = now + LIFETIME["root"]
        next_online = self.paths.keys / "online.next.pem"
        if rotate_online:
            _new_key(next_online)
            fresh = load_signer(next_online).public_key
            for role in ("snapshot", "timestamp"):
                for keyid in list(root.roles[role].keyids):
                    root.revoke_key(keyid, role)
                root.add_key(fresh, role)
        metadata.signatures.clear()
        metadata.sign(signer)
        data = metadata.to_bytes(_SERIALIZER)
        write_atomic(self.paths.metadata / f"{root.version}.root.json", data, mode=0o644)
        write_atomic(self.paths.metadata / "root.json", data, mode=0o644)
        if rotate_online:
            # Only now: a crash before this line leaves the old key signing, and
            # running the command again signs a further root with a new key.
            next_online.replace(self.paths.keys / "online.pem")
            self._write_targets(self.targets(), now)
        return int(root.version)

    def refresh_timestamp(
        self, now: dt.datetime | None = None, lifetime: dt.timedelta | None = None
    ) -> int:
        """Re-sign the timestamp (a new version, a new expiry); return its version."""
        now = now or now_utc()
        old: Timestamp = self._latest("timestamp").signed
        timestamp = Timestamp(
            version=old.version + 1,
            expires=now + (lifetime or LIFETIME["timestamp"]),
            snapshot_meta=old.snapshot_meta,
        )
        return self._write_timestamp(timestamp)

    def _write_targets(self, files: dict[str, bytes], now: dt.datetime) -> None:
        try:
            version = int(self._latest("targets").signed.version) + 1
        except RepositoryError:
            version = 1
        targets = Targets(version=version, expires=now + LIFETIME["targets"])
        for path, data in sorted(files.items()):
            info = TargetFile.from_data(path, data, ["sha256"])
            targets.targets[path] = info
            stored = self._stored(path, info.hashes["sha256"])
            if not stored.exists():
                write_atomic(stored, data, mode=0o644)
        self._write_versioned("targets", Metadata(targets))
        try:
            snapshot_version = int(self._latest("snapshot").signed.version) + 1
        except RepositoryError:
            snapshot_version = 1
        snapshot = Snapshot(version=snapshot_version, expires=now + LIFETIME["snapshot"])
        snapshot.meta["targets.json"] = MetaFile(version=version)
        self._write_versioned("snapshot", Metadata(snapshot))
        try:
            ts_version = int(self._latest("timestamp").signed.version) + 1
        except FileNotFoundError:
            ts_version = 1
        self._write_timestamp(
            Timestamp(
                version=ts_version,
                expires=now + LIFETIME["timestamp"],
                snapshot_meta=MetaFile(version=snapshot_version),
            )
        )

    def _write_versioned(self, role: str, metadata: Metadata[Any]) -> None:
        metadata.sign(self._signer(role))
        name = f"{metadata.signed.version}.{role}.json"
        write_atomic(self.paths.metadata / name, metadata.to_bytes(_SERIALIZER), mode=0o644)

    def _write_timestamp(self, timestamp: Timestamp) -> int:
        metadata = Metadata(timestamp)
        metadata.sign(self._signer("timestamp"))
        # Replaced last and whole: a reader sees the old publication or the new one.
        write_atomic(
            self.paths.metadata / "timestamp.json", metadata.to_bytes(_SERIALIZER), mode=0o644
        )
        return int(timestamp.version)


def bundle_target(bundle: Bundle) -> str:
    """Return the repository path of a bundle."""
    if bundle.scope == "all":
        return "bundles/all.json"
    check_name(bundle.name)
    return f"bundles/{bundle.scope}/{bundle.name}.json"


def check_name(name: str) -> str:
    """Refuse a group name or UAI that cannot be a file name in the repository."""
    if (
        not name
        or len(name) > 64
        or not all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
    ):
        raise RepositoryError(
            N_("nom refusé : « %(name)s » (lettres, chiffres, - et _ seulement)"), name=name
        )
    return name

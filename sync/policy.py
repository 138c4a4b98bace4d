"""The centre's policy and the referent's settings, merged by one documented rule.

Pure: no I/O. The central team publishes *bundles* (signed by the repository,
see :mod:`sync.repository`) for every site, for a group of sites, or for one
site (its UAI). A bundle sets configuration keys, each possibly *locked*, and
may hand apps to the sites' stores (:class:`CentralApp`); for apps the
narrowest bundle naming an app (platform and app id) wins, and the centre's
apps are locked: the box keeps its store in step with them.

Precedence, per key (docs/sync.md says the same to the referent):

1. a key the centre **locks** takes the centre's value, whatever the local file
   says; among several locking bundles the narrowest wins (site, then group,
   then all);
2. otherwise a key the referent set in ``preau.toml`` keeps the local value;
3. otherwise the narrowest bundle that sets the key gives it;
4. otherwise the built-in default.

Some keys describe this box itself (where its data lives, what it listens on,
how it reaches the centre) and are never taken from a bundle: a bundle that
names one is refused whole, so a typo in the centre cannot cut a site off.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from appliance.i18n import N_
from appliance.problems import UserError

Scope = Literal["all", "group", "site"]
# Narrowest last: a later scope overrides an earlier one.
SCOPE_ORDER: Final[Mapping[str, int]] = {"all": 0, "group": 1, "site": 2}

# Keys a bundle may never set (prefixes of dotted paths): the box's own place.
BOX_LOCAL_KEYS: Final = (
    "site.data_dir",
    "state",
    "web.host",
    "web.port",
    "sync",
    "logging",
    # Where root keeps an offered system update, and RAUC's file: the box's own disk.
    "updates.folder",
    "updates.rauc_conf",
)


# ...except these, which the centre may set inside the box's own section: where figures
# and the inventory go, and the Wi-Fi every school of a group shares (files stay the box's).
CENTRE_SETS_INSIDE: Final = (
    "sync.telemetry.",
    "sync.devices.ssid",
    "sync.devices.hidden",
    "sync.inventory_url",
)


class BundleError(UserError):
    """A bundle the box cannot take (its name, its key or its value)."""


class Setting(BaseModel):
    """One configuration key's value in a bundle, and whether the centre locks it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: Any
    locked: bool = False


# Who a central app is for: the whole school, a role, a class or a directory group
# (never one person: the centre does not name pupils).
_ASSIGN: Final = re.compile(
    r"^(school|role:(pupil|teacher|staff|referent)|(class|group):[^\s:]{1,64})$"
)


class CentralApp(BaseModel):
    """An app the centre hands to the schools' stores: a signed target, and who may install it.

    The package is its own target of the repository (``target``), so python-tuf
    checks its length and SHA-256 like any metadata; the box checks them again
    against these fields before the store takes it (#6.4, #7.37).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(pattern=r"^apps/[0-9a-f]{64}/[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=1)
    platform: Literal["android", "ios", "windows", "macos", "linux", "other"]
    name: str = Field(min_length=1, max_length=120)
    package_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
    version_name: str = Field(min_length=1, max_length=64)
    version_code: int = Field(0, ge=0, lt=2**31)
    description: str = Field("", max_length=2000)
    assign: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("assign")
    @classmethod
    def _assignments(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _ASSIGN.match(value):
                raise ValueError(f"{value!r}: school, role:ROLE, class:CLASS or group:GROUP")
        return values

    @property
    def filename(self) -> str:
        """Return the package's file name."""
        return self.target.rsplit("/", 1)[1]


class Bundle(BaseModel):
    """What one signed bundle carries (a target of the central repository)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1] = 1
    scope: Scope
    # "all", a group's name or a UAI.
    name: str = Field(min_length=1, max_length=64)
    # Dotted configuration keys: "filter.safe_search".
    settings: dict[str, Setting] = Field(default_factory=dict)
    # Apps for the stores of the sites this bundle is for.
    apps: list[CentralApp] = Field(default_factory=list, max_length=200)
    note: str = Field("", max_length=500)

    @field_validator("settings")
    @classmethod
    def _no_box_local_key(cls, settings: dict[str, Setting]) -> dict[str, Setting]:
        for key in settings:
            refuse_box_local(key)
        return settings


def refuse_box_local(key: str) -> None:
    """Refuse a dotted key that only the box itself may set."""
    parts = key.split(".")
    if not key or any(not part for part in parts):
        raise BundleError(N_("clé de configuration mal formée : « %(key)s »"), key=key)
    if key.startswith(CENTRE_SETS_INSIDE):
        return
    for local in BOX_LOCAL_KEYS:
        if key == local or key.startswith(local + "."):
            raise BundleError(
                N_("la clé « %(key)s » est propre à chaque boîtier : le centre ne la fixe pas"),
                key=key,
            )


@dataclass(frozen=True, slots=True)
class EffectiveSetting:
    """A key the centre sets, what this box uses, and why (shown per setting)."""

    key: str
    value: Any
    origin: str  # "all", "group:NAME" or "site:UAI"
    locked: bool
    # "centre" (the centre's value is used) or "local" (the referent's wins).
    winner: Literal["centre", "local"]
    local_value: Any = None


@dataclass(frozen=True, slots=True)
class MergedPolicy:
    """The settings the centre gives this box, and the config overlay they make."""

    settings: tuple[EffectiveSetting, ...]
    bundles: tuple[str, ...]  # origins, broadest first
    # The centre's apps for this site, one per platform and app id (the narrowest
    # bundle's), with the origin of each.
    apps: tuple[tuple[CentralApp, str], ...] = ()

    @property
    def apps_digest(self) -> str:
        """Return a digest of the apps and who they are for ("" for none)."""
        if not self.apps:
            return ""
        text = json.dumps([(app.model_dump(), origin) for app, origin in self.apps], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def overlay(self) -> dict[str, Any]:
        """Return the nested config values the centre's winning settings set."""
        return nested({s.key: s.value for s in self.settings if s.winner == "centre"})

    @property
    def locked(self) -> tuple[str, ...]:
        """Return the keys the centre locks: nothing else on the box may change them."""
        return tuple(s.key for s in self.settings if s.locked)

    @property
    def digest(self) -> str:
        """Return a short digest of what the box must apply ("" for nothing: no apply)."""
        if not self.settings:
            return ""
        text = json.dumps(
            [(s.key, s.value, s.locked, s.origin) for s in self.settings],
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def origin_of(bundle: Bundle) -> str:
    """Return how a bundle's origin is shown: all, group:NAME or site:UAI."""
    return "all" if bundle.scope == "all" else f"{bundle.scope}:{bundle.name}"


def lookup(tree: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """Return (present, value) of a dotted ``key`` in a nested mapping."""
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn {"a.b": 1} into {"a": {"b": 1}}."""
    tree: dict[str, Any] = {}
    for key, value in sorted(flat.items()):
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise BundleError(N_("clé de configuration mal formée : « %(key)s »"), key=key)
            node = child
        node[parts[-1]] = value
    return tree


def merge(bundles: Sequence[Bundle], local: Mapping[str, Any]) -> MergedPolicy:
    """Merge the bundles that apply to a box with its local file, by the rule above."""
    ordered = sorted(bundles, key=lambda b: (SCOPE_ORDER[b.scope], b.name))
    chosen: dict[str, tuple[Setting, str]] = {}
    locked: dict[str, tuple[Setting, str]] = {}
    for bundle in ordered:
        for key, setting in bundle.settings.items():
            chosen[key] = (setting, origin_of(bundle))
            if setting.locked:
                locked[key] = (setting, origin_of(bundle))
    settings = []
    for key in sorted(chosen):
        setting, origin = locked.get(key) or chosen[key]
        present, local_value = lookup(local, key)
        winner: Literal["centre", "local"] = "local" if present and not setting.locked else "centre"
        settings.append(
            EffectiveSetting(
                key, setting.value, origin, setting.locked, winner, local_value if present else None
            )
        )
    apps: dict[tuple[str, str], tuple[CentralApp, str]] = {}
    for bundle in ordered:
        for app in bundle.apps:
            apps[(app.platform, app.package_id)] = (app, origin_of(bundle))
    return MergedPolicy(
        tuple(settings),
        tuple(origin_of(b) for b in ordered),
        tuple(apps[key] for key in sorted(apps)),
    )


def applies_to(bundle_path: str, uai: str, groups: Mapping[str, Sequence[str]]) -> bool:
    """Say whether the bundle at ``bundle_path`` (a repository target) is for this site."""
    if bundle_path == "bundles/all.json":
        return True
    if bundle_path.startswith("bundles/group/") and bundle_path.endswith(".json"):
        group = bundle_path[len("bundles/group/") : -len(".json")]
        return uai in groups.get(group, ())
    return bundle_path == f"bundles/site/{uai}.json"

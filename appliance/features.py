"""The one registry of features: what each feature brings to the appliance.

A feature (the DNS filter, the captive portal, the update cache…) is a folder
that owns its whole life. It declares what it contributes in one
:class:`Feature` value, exported by its ``feature`` module and registered with
one line under ``[project.entry-points."preau.features"]`` in
``pyproject.toml``. The kernel assembles the appliance from that list: the
config model (:mod:`appliance.config`), the services ``preau run`` starts
(:mod:`appliance.services`), the web app's routes and templates, the
scheduler's jobs, the CLI's command groups and the state DB's migrations.

The kernel never imports a feature by name (a test checks it): it only knows
the entry-point group. Model: a Home Assistant integration's manifest.

Every process reads every feature's registration (the config model needs
all sections), but a unit runs one service: the DNS filter's process has no
use for the web pages, the CLI or the jobs of the others. So the heavy parts
(routes, commands, jobs, panels, hooks) are named ``"module:attribute"`` with
:func:`later` and :func:`later_call`, and imported where they are used; each
process then holds only what it runs (#15 scope 4: the 1 GiB Pi). A feature's
``feature`` module imports only its config model, its labels and the kernel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module, metadata
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

if TYPE_CHECKING:
    from pathlib import Path

    from aiohttp import web
    from pydantic import BaseModel

    from appliance.config import PreauConfig
    from appliance.core import Core
    from appliance.dashboard import Alert, Figure, Window
    from appliance.demo_history import HistoryPlan
    from appliance.problems import Problem
    from appliance.scheduler.jobs import JobSpec
    from appliance.service import Service

ENTRY_POINT_GROUP: Final = "preau.features"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service a feature runs, and whether this config runs it."""

    name: str
    # None for the kernel's own services, which appliance.assembly creates.
    create: Callable[[Core], Service] | None
    enabled: Callable[[PreauConfig], bool] = lambda config: True
    # The systemd unit (preau-UNIT.service) whose process runs it; its own
    # name when empty. Services that need no privilege of their own share the
    # web's process: each Python process holds 50 to 90 MB, and a 1 GiB
    # Raspberry Pi has room for Préau's 300 MB in four, not seven (#15).
    unit: str = ""


# A menu entry whose roles name this is shown to people not logged in (help, for one).
VISITOR: Final = "visitor"


class GateFailure(Exception):
    """A health-gate probe did not get the answer it needs (French, for the report)."""


@dataclass(frozen=True, slots=True)
class GateProbe:
    """One check of the update's health gate: a name (French, N_) and the check."""

    name: str
    check: Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """A link in the admin menu to one of the feature's pages."""

    path: str
    label: str  # French, marked N_("…"); translated where the menu is shown
    roles: tuple[str, ...] = ("referent",)
    # "admin": with the referent's pages; "personal": with everyone's own pages.
    section: str = "admin"
    # Carry the page the link is followed from (``?depuis=/page``): help about that page.
    with_page: bool = False


@dataclass(frozen=True, slots=True)
class DashboardPanel:
    """A card of the referent's dashboard: a template and what it shows."""

    # A template of the feature's ``templates/admin`` folder; it sees ``panel``.
    template: str
    context: Callable[[Core], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class SettingsForm:
    """A form of the settings page: what a referent changes in a school year (#16 scope 8).

    ``context`` gives the template what it shows; ``values`` turns the posted
    form into nested config values (``{"filter": {"groups": [...]}}``), or
    raises a :class:`~appliance.problems.UserError`. The kernel validates the
    values with the whole config, as a config file is, then keeps them in
    the settings file (:mod:`appliance.site_settings`) and restarts the
    services on them.
    """

    key: str  # in the form's address: /settings/<key>
    title: str  # French, marked N_
    template: str  # in the feature's ``templates/admin``; it sees ``form``
    context: Callable[[Core], Awaitable[Mapping[str, Any]]]
    values: Callable[[Core, Any], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class SessionHooks:
    """What a feature does when someone logs in or out of the web UI."""

    # Called once the password is checked, the only moment it is at hand (the
    # storage opens PERSONNEL's key with it); never stores or logs it.
    on_login: Callable[[Core, str, str, str], Awaitable[None]] | None = None
    # Called with the session's hash when it ends (the storage forgets the key).
    on_logout: Callable[[Core, str], None] | None = None
    # Called when a person changes their password on the box: (person, old
    # password, new password, session hash); the storage re-seals PERSONNEL.
    on_password_change: Callable[[Core, str, str, str, str], Awaitable[None]] | None = None


@dataclass(frozen=True, slots=True)
class Replacement:
    """What a box replacing a dead one gets back of a feature (the nightly "PRA" backup).

    ``tables``: state DB tables whose rows are copied whole, parents before
    children (each has a primary key: the restore adds or updates rows by it
    and deletes nothing). ``folder``: a folder whose plain files are copied
    too (the app store's packages). Never a secret the collectivité must not
    read (password hashes, sessions, PERSONNEL's keys), never a log.
    """

    tables: tuple[str, ...] = ()
    folder: Callable[[Core], Path] | None = None


# The kernel's own share: the accounts cache, roles, classes and schedules.
KERNEL_REPLACEMENT: Final = Replacement(
    tables=(
        "people",
        "groups",
        "memberships",
        "imported_people",
        "role_grants",
        "teaching",
        "timetable",
        "closed_days",
        "class_subgroups",
        "class_subgroup_members",
    )
)


@dataclass(frozen=True, slots=True)
class FirstRunAnswers:
    """What the first-run page knows when a feature reads its part of the form."""

    form: Mapping[str, str]
    # The box's network interfaces, by name (see appliance.first_run.network).
    interfaces: tuple[str, ...]
    # The interface the referent chose for the administration LAN.
    admin_interface: str
    # The device certificate and key the first run installs (None: none yet).
    certificate: tuple[Path, Path] | None


@dataclass(frozen=True, slots=True)
class FirstRunPart:
    """A feature's part of the first-run page (#15 scope 3).

    ``template``: a fragment of the feature's ``templates/admin`` folder, put
    inside the page's form (it sees ``form``, ``errors``, ``interfaces``).
    ``read``: from the answers, the settings the feature wants (nested config
    values) and what is wrong, by field name; pure, so the page checks every
    part before anything is written. ``apply``: what must happen outside the
    box once every check passed (the centre's enrolment), or the reason it
    failed, by field name; called before any setting is written.
    """

    template: str
    read: Callable[[FirstRunAnswers], tuple[dict[str, Any], dict[str, Problem]]]
    apply: Callable[[Core, FirstRunAnswers, str, str], Awaitable[dict[str, Problem]]] | None = None


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity
class Feature:
    """Everything a feature contributes; each part is optional."""

    name: str
    # Start order among features (lower first); the kernel's own services
    # (directory, scheduler) start before and the web service after.
    order: int = 100
    # The config section: ``[name]`` in preau.toml, validated by this model.
    config: tuple[str, type[BaseModel]] | None = None
    services: Sequence[ServiceSpec] = ()
    # Route tables of the admin web app (pages and API).
    routes: Sequence[web.RouteTableDef] = ()
    # A package whose ``templates/admin`` folder holds the feature's pages.
    templates_package: str | None = None
    # A package whose ``migrations`` folder holds the feature's numbered SQL.
    migrations_package: str | None = None
    jobs: Callable[[Core], list[JobSpec]] | None = None
    # The CLI's commands, by name: "module:attribute" of a click command,
    # imported only when that command runs (or help lists it).
    commands: Mapping[str, str] = field(default_factory=dict)
    # A package whose ``locale/`` folder holds the feature's gettext catalogues.
    translations: str | None = None
    # Families of labels its pages show by value: {"service": {"filter": N_("…")}}.
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    menu: Sequence[MenuEntry] = ()
    dashboard: Sequence[DashboardPanel] = ()
    settings_forms: Sequence[SettingsForm] = ()
    # The dashboard's figures over its 30 days, and what is wrong now, errors
    # first (see appliance.dashboard): each links to the page that acts on it.
    figures: Callable[[Core, Window], Awaitable[Sequence[Figure]]] | None = None
    alerts: Callable[[Core, float], Awaitable[Sequence[Alert]]] | None = None
    # Invents the feature's share of the demo school in its own tables: its
    # history (the charts; the UI benchmark's year) and its sample content (the
    # filter's invented list); returns the rows written.
    demo: Callable[[Core, HistoryPlan], Awaitable[int]] | None = None
    # Aggregates for the site report the centre reads, as published rows
    # (name, 'key="value",…', value) at time ``now``: counts and site gauges,
    # never a person or a device; the report keeps only its allow-list of them.
    site_figures: Callable[[Core, float], Awaitable[Sequence[tuple[str, str, float]]]] | None = None
    # Whether this feature links the box to a centre now (it then carries
    # :mod:`appliance.central_outbox`'s messages up).
    central_link: Callable[[Core], Awaitable[bool]] | None = None
    # aiohttp cleanup contexts of the web app: entered before it listens, left
    # after it stops (the storage runs WebDAV and sweeps killed uploads there).
    web_lifecycle: Sequence[Callable[[web.Application], AsyncIterator[None]]] = ()
    sessions: SessionHooks | None = None
    # Where a role lands after logging in ({"teacher": "/internet"}); the first
    # feature (by order) naming a role wins; else the dashboard or "Mon compte".
    landing: Mapping[str, str] = field(default_factory=dict)
    replacement: Replacement | None = None
    first_run: FirstRunPart | None = None
    # What a new system slot must show before it is kept (the update's
    # health gate): each probe checks a real answer from outside the
    # feature's process and raises GateFailure when it is missing.
    gate_probes: Callable[[PreauConfig], Sequence[GateProbe]] | None = None


def resolve(path: str) -> Any:
    """Return the object named ``"module:attribute"``, importing its module."""
    module, _, attribute = path.partition(":")
    return getattr(import_module(module), attribute)


class _Later(Sequence[Any]):
    """Objects named ``"module:attribute"``, imported on first use."""

    def __init__(self, paths: tuple[str, ...]) -> None:
        self._paths = paths
        self._objects: list[Any] | None = None

    def _loaded(self) -> list[Any]:
        if self._objects is None:
            self._objects = [resolve(path) for path in self._paths]
        return self._objects

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, index: Any) -> Any:
        return self._loaded()[index]

    def __repr__(self) -> str:
        return f"later{self._paths!r}"


def later(*paths: str) -> Sequence[Any]:
    """Return the objects named ``"module:attribute"``, imported when first used."""
    return _Later(paths)


def later_call(path: str) -> Callable[..., Any]:
    """Return a function calling the one named ``"module:attribute"``, imported on first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return resolve(path)(*args, **kwargs)

    call.__qualname__ = call.__name__ = path
    return call


def landing_page(features: Sequence[Feature], role: str) -> str:
    """Return the page ``role`` lands on after logging in."""
    for feature in features:
        if role in feature.landing:
            return feature.landing[role]
    return "/dashboard" if role == "referent" else "/account"


class _Switchable(Protocol):
    enabled: bool


def enabled_by(model: type[BaseModel]) -> Callable[[PreauConfig], bool]:
    """Return "is this service on": the ``enabled`` key of the feature's config section."""

    def enabled(config: PreauConfig) -> bool:
        section: Any = config.section(model)
        return bool(cast(_Switchable, section).enabled)

    return enabled


class FeatureError(RuntimeError):
    """The installed features do not fit together."""


@cache
def installed_features() -> tuple[Feature, ...]:
    """Return the features registered by the installed distribution, in start order.

    Cached: the set of installed entry points does not change while a process runs.
    """
    found: list[Feature] = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        value = entry.load()
        if not isinstance(value, Feature):
            raise FeatureError(f"entry point {entry.name} is not a Feature: {value!r}")
        found.append(value)
    return check_features(found)


def check_features(features: Sequence[Feature]) -> tuple[Feature, ...]:
    """Return ``features`` in start order, refusing two that claim the same name."""
    seen: dict[str, str] = {}
    for feature in features:
        claims = [f"feature {feature.name}"]
        claims += [f"service {spec.name}" for spec in feature.services]
        claims += [f"command {name}" for name in feature.commands]
        if feature.config is not None:
            claims.append(f"config section {feature.config[0]}")
        for claim in claims:
            if claim in seen:
                raise FeatureError(f"{claim} is declared by {seen[claim]} and {feature.name}")
            seen[claim] = feature.name
    return tuple(sorted(features, key=lambda feature: (feature.order, feature.name)))

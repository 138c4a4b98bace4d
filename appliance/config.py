"""One TOML file configures the whole appliance.

Each service owns one validated section; unknown keys are rejected so that a
misspelt key never silently falls back to a default. Errors name the file, the
dotted key path and the reason (ground rule 3). The models double as the
documentation: :func:`render_defaults` prints every key with its description
and default, which is what ``preau config defaults`` shows and what the docs
quote (:mod:`appliance.config_render`).
"""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from appliance.config_overlay import deep_update, overlay_path, read_overlay
from appliance.features import Feature, installed_features
from appliance.i18n import N_
from appliance.problems import UserError
from appliance.site_settings import SettingsError, read_settings, settings_path
from appliance.validation_fr import french_message

_LOGGER = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH: Final = Path("/etc/preau/preau.toml")

Role = Literal["pupil", "teacher", "staff", "referent"]
ROLES: Final[tuple[Role, ...]] = ("pupil", "teacher", "staff", "referent")

DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _every_day() -> list[DayName]:
    return ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _weekdays() -> list[DayName]:
    return ["mon", "tue", "wed", "thu", "fri"]


_TIME_RANGE = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$"
TimeRange = Annotated[str, Field(pattern=_TIME_RANGE)]


_SectionT = TypeVar("_SectionT", bound=BaseModel)


class ConfigError(Exception):
    """A configuration file is missing, unreadable or invalid."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class School(_Section):
    """One school (établissement) hosted on this appliance."""

    uai: str = Field(
        "0000000X",
        pattern=r"^\d{7}[A-Z]$",
        description="UAI (RNE) code of the school, 7 digits and a letter.",
    )
    name: str = Field("École de démonstration", min_length=1, description="Display name.")
    kind: Literal["ecole", "college", "lycee"] = Field(
        "college", description="Type of school: ecole, college or lycee."
    )


class SiteConfig(_Section):
    """Where the appliance is and where it keeps its data."""

    name: str = Field("Préau", min_length=1, description="Name shown in the web UI.")
    timezone: str = Field("Europe/Paris", description="IANA time zone of the site.")
    data_dir: Path = Field(
        Path("/var/lib/preau"), description="Directory for the state database and files."
    )
    schools: list[School] = Field(
        default_factory=lambda: [School()],
        min_length=1,
        description="Schools served by this box; roles are delegated per school (#5.25).",
    )

    admin_interface: str = Field(
        "",
        description="Network interface of the administration LAN (set by the first-run page); "
        "empty: not chosen yet.",
    )
    logo: Path | None = Field(
        None,
        description="The school's logo (PNG, JPEG or SVG, 100 kB at most), shown on the Wi-Fi "
        "portal's pages next to the school's name.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise UserError(N_("fuseau horaire inconnu : « %(zone)s »"), zone=value) from err
        return value

    @property
    def zone(self) -> ZoneInfo:
        """Return the site's time zone."""
        return ZoneInfo(self.timezone)


class StateConfig(_Section):
    """The SQLite state database."""

    path: Path | None = Field(
        None, description="State database file; empty means <data_dir>/state.db."
    )


class ThrottleConfig(_Section):
    """Login throttling (OWASP ASVS V2.2.1 / V6.1.1)."""

    per_source_per_minute: int = Field(
        30, ge=1, description="Login attempts accepted per source address per minute."
    )
    free_failures: int = Field(
        5,
        ge=1,
        description="Failures per account and source before delays start (15-minute window).",
    )
    max_delay_seconds: int = Field(
        900, ge=1, description="Longest delay imposed between attempts on one account+source."
    )
    account_failures_per_hour: int = Field(
        100,
        ge=1,
        le=100,
        description=(
            "Failures per account per hour, all sources together, before only devices that "
            "logged in to it before may try (ASVS: at most 100)."
        ),
    )


class WebConfig(_Section):
    """The admin web UI and JSON API."""

    host: str = Field(
        "0.0.0.0",
        description="Address the admin UI listens on (0.0.0.0: every IPv4 address; until the "
        "first run is done, only the administration LAN is answered).",
    )
    port: int = Field(8080, ge=1, le=65535, description="TCP port of the admin UI.")
    tls_cert: Path | None = Field(None, description="PEM certificate; set with tls_key for HTTPS.")
    tls_key: Path | None = Field(None, description="PEM private key for tls_cert.")
    language: Literal["fr", "en"] = Field("fr", description="Default UI language.")
    session_idle_minutes: int = Field(
        30, ge=1, le=240, description="Admin sessions end after this much inactivity."
    )
    session_absolute_hours: int = Field(
        12, ge=1, le=24, description="Admin sessions end this long after login, whatever happens."
    )
    throttle: ThrottleConfig = Field(default_factory=ThrottleConfig)
    second_factor_required: bool = Field(
        False,
        description="Referents must prove a second factor (a code from an authenticator app) "
        "before any administration; without one set up they reach only the page that sets it up.",
    )
    clock: Literal["ntp", "host"] = Field(
        "ntp",
        description="Who keeps the clock right. ntp: codes from an app are checked only once "
        "NTP has synchronised the clock; host: a container or virtual machine whose host keeps it.",
    )


class LocalAccountsConfig(_Section):
    """Accounts stored on the appliance (small schools, the demo)."""

    enabled: bool = Field(True, description="Accept logins of local accounts.")
    hash_profile: Literal["rfc9106-low-memory", "owasp-minimum"] = Field(
        "rfc9106-low-memory",
        description=(
            "Argon2id cost: rfc9106-low-memory (t=3, 64 MiB) or owasp-minimum (t=2, 19 MiB) "
            "for boxes short of memory."
        ),
    )


class LdapAttributes(_Section):
    """Which directory attribute holds each field kept (CARMO table 9, #7.53)."""

    id: str = Field("uid", description="Stable person identifier (never an e-mail for pupils).")
    display_name: str = Field("displayName", description="Name shown in the UI.")
    given_name: str = Field("givenName", description="First name.")
    surname: str = Field("sn", description="Last name.")
    class_: str = Field(
        "departmentNumber", alias="class", description="Class/division (e.g. 6A); may be empty."
    )
    level: str = Field("", description="Level (e.g. 6EME); empty when the directory has none.")
    school: str = Field("", description="School UAI; empty means the first school.")
    teacher_classes: str = Field(
        "",
        description="Attribute listing the classes a teacher teaches (AAF: ENTAuxEnsClasses, "
        "values 6A or UAI$6A); empty: none.",
    )


class LdapRoles(_Section):
    """How a directory entry maps to a role."""

    pupil: list[str] = Field(
        default_factory=list, description="Group DNs whose members are pupils."
    )
    teacher: list[str] = Field(default_factory=list, description="Group DNs of teachers.")
    staff: list[str] = Field(default_factory=list, description="Group DNs of other staff.")
    referent: list[str] = Field(default_factory=list, description="Group DNs of IT referents.")
    attribute: str = Field(
        "", description="Attribute carrying a profile (e.g. ENTPersonProfils); empty: groups only."
    )
    attribute_values: dict[str, Role] = Field(
        default_factory=dict,
        description='Profile value to role, e.g. { National_ELV = "pupil" }.',
    )


class LdapConfig(_Section):
    """An LDAP or Active Directory directory (#5.19, #5.27, #7.54)."""

    enabled: bool = Field(False, description="Authenticate against and sync from the directory.")
    uri: str = Field(
        "ldap://127.0.0.1:389", pattern=r"^ldaps?://", description="ldap:// or ldaps:// URI."
    )
    security: Literal["starttls", "ldaps"] = Field(
        "starttls", description="starttls on ldap://, or ldaps; cleartext is not offered (#7.54)."
    )
    ca_file: Path | None = Field(None, description="CA certificate that signed the server's.")
    bind_dn: str = Field("", description="Service account used to search.")
    bind_password_file: Path | None = Field(
        None, description="File holding the service account password (kept out of this file)."
    )
    base_dn: str = Field("dc=example,dc=org", description="Where people are searched.")
    user_filter: str = Field(
        "(&(objectClass=inetOrgPerson)(uid={login}))",
        description="Filter finding one person; {login} is replaced, escaped.",
    )
    people_filter: str = Field(
        "(objectClass=inetOrgPerson)", description="Filter listing everybody for the sync."
    )
    group_base_dn: str = Field("", description="Where groups are searched; empty: base_dn.")
    group_filter: str = Field(
        "(objectClass=groupOfNames)", description="Filter listing groups for the sync."
    )
    group_member_attribute: str = Field("member", description="Attribute listing member DNs.")
    class_teachers_group: str = Field(
        "",
        description="Name (cn) of the group listing a class's teachers, {class} standing for "
        "the class (Scribe: profs-{class}); empty: none.",
    )
    page_size: int = Field(
        500,
        ge=10,
        le=1000,
        description="Entries asked per page (RFC 2696); at most the server's limit "
        "(Active Directory: 1000).",
    )
    timeout_seconds: float = Field(5.0, gt=0, le=60, description="Network timeout per operation.")
    attributes: LdapAttributes = Field(default_factory=LdapAttributes)
    roles: LdapRoles = Field(default_factory=LdapRoles)

    @model_validator(mode="after")
    def _scheme_matches_security(self) -> LdapConfig:
        if self.security == "ldaps" and not self.uri.startswith("ldaps://"):
            raise UserError(N_("security = « ldaps » demande une adresse ldaps://"))
        if self.security == "starttls" and not self.uri.startswith("ldap://"):
            raise UserError(N_("security = « starttls » demande une adresse ldap://"))
        return self


class IdentityConfig(_Section):
    """Who can log in, and with which role."""

    local: LocalAccountsConfig = Field(default_factory=LocalAccountsConfig)
    ldap: LdapConfig = Field(default_factory=LdapConfig)
    health_interval_seconds: float = Field(
        30.0, gt=0, description="How often the directory's reachability is checked."
    )
    password_url: str = Field(
        "",
        max_length=300,
        pattern=r"^(https?://\S+)?$",
        description="The page where people change their directory password (the ENT's), "
        "linked from « Mon compte »; local accounts change theirs on the box.",
    )


class WindowConfig(_Section):
    """A maintenance window: when a class of jobs may run (#5.22, #7.21)."""

    hours: TimeRange = Field(description="Local time range HH:MM-HH:MM; may cross midnight.")
    days: list[DayName] = Field(
        default_factory=_every_day,
        min_length=1,
        description="Days on which the window opens.",
    )
    run_on_holidays: bool = Field(
        False,
        description="Open the window during holidays and closed days too (nobody is on site).",
    )


class PeriodConfig(_Section):
    """One créneau of the weekly grid (M1 … S4), when a teacher's control ends."""

    name: str = Field(min_length=1, max_length=16, description="Its name, e.g. M1.")
    hours: TimeRange = Field(description="Local time range HH:MM-HH:MM.")
    days: list[DayName] = Field(
        default_factory=list, description="Days it exists; empty: every school day."
    )

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> PeriodConfig:
        start, end = self.hours.split("-")
        if end <= start:
            raise UserError(N_("hours : un créneau finit après avoir commencé"))
        return self


class HolidayConfig(_Section):
    """A holiday period, first to last day inclusive (the centre may publish the académie's)."""

    name: str = Field("", max_length=80, description="What people call it (« Vacances de Noël »).")
    first: dt.date = Field(description="First day without classes.")
    last: dt.date = Field(description="Last day without classes.")

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> HolidayConfig:
        if self.last < self.first:
            raise UserError(N_("last : la fin ne peut pas précéder le début (first)"))
        return self


def _college_periods() -> list[PeriodConfig]:
    # A collège's usual grid: 55 min créneaux, a break each half-day, no
    # lessons on Wednesday afternoon.
    mornings = [("M1", "08:00-08:55"), ("M2", "08:55-09:50"), ("M3", "10:05-11:00"),
                ("M4", "11:00-11:55")]  # fmt: skip
    afternoons = [("S1", "13:30-14:25"), ("S2", "14:25-15:20"), ("S3", "15:35-16:30"),
                  ("S4", "16:30-17:25")]  # fmt: skip
    return [PeriodConfig(name=n, hours=h) for n, h in mornings] + [
        PeriodConfig(name=n, hours=h, days=["mon", "tue", "thu", "fri"]) for n, h in afternoons
    ]


class SchedulerConfig(_Section):
    """The school calendar and the maintenance windows (#5.22, #7.21, #11.12)."""

    school_days: list[DayName] = Field(
        default_factory=_weekdays,
        description="Days with classes.",
    )
    class_hours: list[TimeRange] = Field(
        default_factory=lambda: ["07:45-18:30"],
        description="Class hours on school days; no maintenance job runs inside them.",
    )
    holidays_ics: Path | None = Field(
        None, description="iCalendar file of school holidays (the published French calendar)."
    )
    holidays: list[HolidayConfig] = Field(
        default_factory=list,
        max_length=60,
        description="Holiday periods besides holidays_ics (a central policy can set the "
        "académie's calendar this way).",
    )
    closed_days: list[dt.date] = Field(
        default_factory=list,
        description="Extra days the school is closed (bank holidays, bridges).",
    )
    periods: list[PeriodConfig] = Field(
        default_factory=_college_periods,
        max_length=24,
        description="The weekly grid of créneaux; a teacher's control ends with the créneau.",
    )
    week_a: dt.date | None = Field(
        None,
        description="A day of a week A, for timetables alternating weeks A and B; "
        "holiday weeks do not count.",
    )
    restriction_fallback_minutes: int = Field(
        55,
        ge=5,
        le=240,
        description="How long a teacher's control lasts outside any créneau.",
    )
    nightly: WindowConfig = Field(default_factory=lambda: WindowConfig(hours="01:00-05:00"))
    weekly: WindowConfig = Field(
        default_factory=lambda: WindowConfig(hours="02:00-06:00", days=["sun"])
    )


class AuditConfig(_Section):
    """The audit log of authentications and admin actions."""

    retention_days: int = Field(
        180, ge=30, le=1095, description="Days audit entries are kept (CNIL: 6 months to 1 year)."
    )


class LoggingConfig(_Section):
    """Process logging (to stdout, for journald)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")


class PreauConfig(_Section):
    """The whole appliance configuration."""

    site: SiteConfig = Field(default_factory=SiteConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @property
    def state_path(self) -> Path:
        """Return the state database file."""
        return self.state.path or self.site.data_dir / "state.db"

    def section(self, model: type[_SectionT]) -> _SectionT:
        """Return the section a feature registered with ``model`` (typed access)."""
        key = _section_keys(type(self)).get(model)
        if key is None:
            raise KeyError(f"no config section of type {model.__name__}: is its feature installed?")
        value: _SectionT = getattr(self, key)
        return value


@cache
def _section_keys(config_class: type[PreauConfig]) -> dict[type, str]:
    """Return each section model's key in one config class (looked up, not scanned, per call)."""
    return {
        field.annotation: name
        for name, field in config_class.model_fields.items()
        if isinstance(field.annotation, type)
    }


@cache
def config_model(features: tuple[Feature, ...]) -> type[PreauConfig]:
    """Return the config model with one section per feature that declares one."""
    sections: dict[str, Any] = {}
    for feature in features:
        if feature.config is not None:
            key, model = feature.config
            sections[key] = (model, Field(default_factory=model))
    assembled: type[PreauConfig] = create_model(
        "PreauConfig", __base__=PreauConfig, __doc__=PreauConfig.__doc__, **sections
    )
    return assembled


def build_config(
    data: dict[str, Any] | None = None, features: tuple[Feature, ...] | None = None
) -> PreauConfig:
    """Validate ``data`` (a parsed TOML document) against the installed features' model."""
    model = config_model(installed_features() if features is None else features)
    return model.model_validate(data or {})


def _format_errors(source: str, err: ValidationError) -> str:
    """Name the file and each refused key, and say why in French."""
    lines = []
    for problem in err.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(racine)"
        reason = french_message(problem)
        if problem["type"] == "extra_forbidden":
            reason = "clé inconnue (mal orthographiée ? voir `preau config defaults`)"
        lines.append(f"{source}: {key}: {reason}")
    return "\n".join(lines)


def parse_config(text: str, source: str = "<config>") -> PreauConfig:
    """Parse and validate TOML text, raising ConfigError that names the key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML: {err}") from err
    try:
        return build_config(raw)
    except ValidationError as err:
        raise ConfigError(_format_errors(source, err)) from err


def load_config(path: Path | None) -> PreauConfig:
    """Load the config at ``path``; a missing default file means built-in defaults."""
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return build_config()
        path = DEFAULT_CONFIG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: no such file") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from err
    local = parse_config(text, str(path))
    raw = tomllib.loads(text)
    local, raw = with_settings(local, raw)
    return overlaid(local, raw)


def with_settings(local: PreauConfig, raw: dict[str, Any]) -> tuple[PreauConfig, dict[str, Any]]:
    """Return ``local`` with the settings set in the web UI over it, and the merged values.

    See :mod:`appliance.site_settings`; a bad settings file is a config error
    naming the file and the key.
    """
    data_dir = local.site.data_dir
    try:
        values = read_settings(data_dir)
    except SettingsError as err:
        raise ConfigError(str(err)) from err
    if not values:
        return local, raw
    merged = deep_update(raw, values)
    try:
        return build_config(merged), merged
    except ValidationError as err:
        raise ConfigError(_format_errors(str(settings_path(data_dir)), err)) from err


def overlaid(local: PreauConfig, raw: dict[str, Any]) -> PreauConfig:
    """Return ``local`` with the box's config overlay over it, or ``local`` if it does not fit.

    See :mod:`appliance.config_overlay`: a bad overlay is logged and ignored,
    never a reason for a service not to start.
    """
    values, digest = read_overlay(local.site.data_dir)
    if not digest:
        return local
    try:
        return build_config(deep_update(raw, values))
    except ValidationError as err:
        _LOGGER.warning(
            "Config overlay ignored, local settings only: %s",
            _format_errors(str(overlay_path(local.site.data_dir)), err),
        )
        return local


def demo_config(data_dir: Path) -> PreauConfig:
    """Return the demo configuration: local accounts, loopback, data under ``data_dir``."""
    return build_config(
        {
            "site": {
                "name": "Préau (démo)",
                "data_dir": str(data_dir),
                "schools": [{"uai": "0000000X", "name": "Collège de démonstration"}],
            },
            "web": {"host": "127.0.0.1", "port": 8080, "clock": "host"},
            "filter": {"listen": ["127.0.0.1:5300"], "upstreams": system_resolvers()},
            # The demo has no clamd (its signatures come from the internet): uploads
            # are not scanned. A school's box scans every upload (#8.12).
            "productions": {"antivirus": {"enabled": False}},
            # The update cache on loopback: try it as a proxy (http://127.0.0.1:3142/proxy.pac).
            "cache": {"enabled": True, "listen": ["127.0.0.1:3142"]},
        }
    )


def system_resolvers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    """Return the system's resolvers as ADDRESS:53 (the demo forwards to them)."""
    found = []
    try:
        lines = resolv_conf.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            address = fields[1].split("%", 1)[0]
            found.append(f"[{address}]:53" if ":" in address else f"{address}:53")
    return found or ["127.0.0.1:53"]

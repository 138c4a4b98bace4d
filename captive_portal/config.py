"""The ``[portal]`` section of preau.toml (captive portal for BYOD)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from appliance.i18n import N_
from appliance.problems import UserError

# The one shape of a MAC address the portal accepts (config, DHCP events, nftables).
MAC_ADDRESS = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PortalRoleConfig(_Section):
    """Session policy of one role (scope 6): timeouts, devices, quota, rate."""

    hard_minutes: float = Field(480, gt=0, le=7 * 1440, description="Longest session.")
    idle_minutes: float = Field(
        30, gt=0, le=1440, description="A device with no traffic for this long is logged out."
    )
    ends_with_school_day: bool = Field(
        True, description="Sessions end when the last class hours of the day end."
    )
    max_devices: int = Field(2, ge=1, le=10, description="Devices per account at once.")
    concurrent: Literal["allow", "refuse", "replace_oldest"] = Field(
        "replace_oldest",
        description="At the device cap: allow one more, refuse, or replace the oldest device.",
    )
    daily_quota_mb: int | None = Field(
        None,
        ge=1,
        le=10_000_000,
        description="Data per day in MB (at most 10 TB); past it the fair-use rate applies.",
    )
    rate_kbytes: int | None = Field(
        None, ge=8, le=10_000_000, description="Per-device rate limit in kilobytes per second."
    )


def _default_roles() -> dict[str, PortalRoleConfig]:
    return {
        "pupil": PortalRoleConfig(hard_minutes=480, idle_minutes=30, max_devices=2),
        "teacher": PortalRoleConfig(
            hard_minutes=600, idle_minutes=60, ends_with_school_day=False, max_devices=3
        ),
        "staff": PortalRoleConfig(
            hard_minutes=600, idle_minutes=60, ends_with_school_day=False, max_devices=3
        ),
        "referent": PortalRoleConfig(
            hard_minutes=600, idle_minutes=60, ends_with_school_day=False, max_devices=3
        ),
        "guest": PortalRoleConfig(
            hard_minutes=240, idle_minutes=30, ends_with_school_day=False, max_devices=1
        ),
    }


class CartConfig(_Section):
    """A mobile cart of tablets or laptops lent to classes (issue #13 scope 5, CARMO #9.7)."""

    name: str = Field(min_length=1, max_length=40, description="Its name, e.g. Chariot 1.")
    classes: list[str] = Field(
        default_factory=list, max_length=60, description="The classes it is assigned to."
    )
    macs: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Its devices' MAC addresses (as DHCP sees them).",
        json_schema_extra={"items": {"pattern": r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$"}},
    )
    hostname_prefix: str = Field(
        "",
        max_length=32,
        pattern=r"^[A-Za-z0-9-]*$",
        description="Or: its devices are those whose DHCP host name starts with this (CH1-).",
    )

    @field_validator("macs")
    @classmethod
    def _macs(cls, value: list[str]) -> list[str]:
        macs = [mac.strip().lower().replace("-", ":") for mac in value]
        for mac in macs:
            if not MAC_ADDRESS.match(mac):
                raise UserError(
                    N_("« %(mac)s » n'est pas une adresse MAC (aa:bb:cc:dd:ee:ff)"), mac=mac
                )
        return macs


class PortalConfig(_Section):
    """Captive portal for pupils' and teachers' own devices (#7.5, #5.17, #7.48)."""

    enabled: bool = Field(False, description="Run the captive portal (needs CAP_NET_ADMIN).")
    byod_interface: str = Field("byod0", description="Interface of the BYOD network.")
    wan_interface: str = Field("wan0", description="Interface towards the internet.")
    address: str = Field("10.77.0.1", description="The portal's address on the BYOD network.")
    http_port: int = Field(80, ge=1, le=65535, description="Portal HTTP port.")
    https_port: int = Field(443, ge=1, le=65535, description="Portal HTTPS port (RFC 8908 API).")
    tls_cert: Path | None = Field(
        None, description="Certificate (chain) for the portal's HTTPS; none: HTTP only."
    )
    tls_key: Path | None = Field(None, description="Private key of tls_cert.")
    hostname: str = Field(
        "", description="Name in the certificate (portal URLs use it when set), e.g. portail.lan."
    )
    charter_version: str = Field(
        "2026-09", min_length=1, description="Version of the first charter (then edited in the UI)."
    )
    charter_text: str = Field(
        "J'utilise le réseau de l'établissement pour mon travail scolaire et je respecte la "
        "charte informatique.",
        min_length=1,
        description="The first charter; later versions are edited in the admin UI.",
    )
    guest_charter_version: str = Field(
        "invites-2026-09", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$",
        description="Version of the visitors' charter (a guest accepts it, not the pupils').",
    )  # fmt: skip
    guest_charter_text: str = Field(
        "En tant que visiteur, j'utilise le réseau de l'établissement pour la durée de ma "
        "visite, dans le respect de la loi ; l'accès peut être coupé à tout moment et ce qui "
        "passe par le réseau est filtré comme pour les élèves.",
        min_length=1,
        max_length=20_000,
        description="The visitors' charter, shown with the guest code form.",
    )
    help_text: str = Field(
        "",
        max_length=600,
        description="What the login page says to someone stuck (which login to use, whom to "
        "ask, where), as the referent writes it; empty: a general sentence in the reader's "
        "language.",
    )
    roles: dict[str, PortalRoleConfig] = Field(
        default_factory=_default_roles,
        description="Session policy per role (pupil, teacher, staff, referent, guest).",
    )
    fair_use_kbytes: int = Field(
        64, ge=0, description="Rate after the daily quota, kilobytes per second; 0: cut off."
    )
    block_all_cuts_forwarding: bool = Field(
        True, description="A teacher's 'block all' on a class also stops its devices' traffic."
    )
    ipv6_prefix: str = Field(
        "", description="IPv6 prefix of the BYOD network (e.g. fd77::/64); empty: IPv4 only."
    )
    address6: str = Field("", description="The portal's IPv6 address on the BYOD network.")
    walled_garden: list[str] = Field(
        default_factory=list,
        description="Host names reachable before login (ENT, charter, OCSP/CRL), opened for "
        "the TTL of their DNS answers.",
    )
    garden_resolver: str = Field(
        "", description="ADDRESS:PORT asked for walled-garden names; empty: the DNS filter's."
    )
    dhcp: bool = Field(True, description="Serve DHCP on the BYOD network (dnsmasq, DHCP only).")
    dhcp_first: str = Field("10.77.0.100", description="First address handed out.")
    dhcp_last: str = Field("10.77.0.250", description="Last address handed out.")
    lease_minutes: int = Field(60, ge=2, le=1440, description="DHCP lease length.")
    captive_api_url: str = Field(
        "", description="RFC 8908 API URL announced by DHCP option 114; empty: the portal's."
    )
    do_cache_host: str = Field(
        "",
        description="Update cache announced by DHCP option 235 to Windows Delivery "
        "Optimization (policy 'Cache Server Hostname Source' = DHCP); empty: none.",
        pattern=r"^[A-Za-z0-9.:-]{0,253}$",
    )
    sweep_seconds: float = Field(
        10.0, gt=0, le=10, description="How often counters are sampled and limits applied."
    )
    usage_retention_days: int = Field(
        90, ge=1, le=400, description="Per-device daily usage is deleted after this many days."
    )
    daily_alert_mb: int = Field(
        2000, ge=0, description="Alert the referent when one account passes this in a day; 0: off."
    )
    logins_per_minute: int = Field(
        20, ge=1, le=600, description="Login attempts per device address and minute."
    )
    carts: list[CartConfig] = Field(
        default_factory=list,
        max_length=50,
        description="Mobile carts and the classes they are assigned to; the class page "
        "shows their devices as DHCP sees them.",
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        ipaddress.IPv4Address(value)
        return value

    @field_validator("walled_garden")
    @classmethod
    def _garden_names(cls, value: list[str]) -> list[str]:
        from captive_portal.garden import check_name

        return [check_name(name) for name in value]

    @field_validator("garden_resolver")
    @classmethod
    def _garden_resolver(cls, value: str) -> str:
        if value:
            host, _, port = value.rpartition(":")
            ipaddress.ip_address(host.strip("[]"))
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise UserError(N_("« %(value)s » : ADRESSE:PORT est attendu"), value=value)
        return value

    @field_validator("roles", mode="before")
    @classmethod
    def _over_default_roles(cls, value: object) -> object:
        # A file that tunes [portal.roles.pupil] keeps the other roles' defaults, and a
        # role's unset keys keep that role's defaults, not the generic ones.
        if not isinstance(value, dict):
            return value
        merged: dict[str, object] = {
            name: role.model_dump() for name, role in _default_roles().items()
        }
        for name, role in value.items():
            base = merged.get(name, {})
            if isinstance(role, dict) and isinstance(base, dict):
                merged[name] = {**base, **role}
            else:
                merged[name] = role
        return merged

    @model_validator(mode="after")
    def _ipv6_pair(self) -> PortalConfig:
        if bool(self.ipv6_prefix) != bool(self.address6):
            raise UserError(N_("ipv6_prefix et address6 vont ensemble"))
        if self.ipv6_prefix:
            prefix = ipaddress.IPv6Network(self.ipv6_prefix)
            if prefix.prefixlen != 64:
                raise UserError(N_("ipv6_prefix : SLAAC demande un /64"))
            if ipaddress.IPv6Address(self.address6) not in prefix:
                raise UserError(N_("address6 n'est pas dans ipv6_prefix"))
        return self

    @model_validator(mode="after")
    def _tls_pair(self) -> PortalConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise UserError(N_("tls_cert et tls_key vont ensemble"))
        return self

"""The ``[filter]`` section of preau.toml.

Defaults follow an académie policy (modelled on ac-rennes' ``policy.yml``):
categories denied to every pupil, more for école and collège, malware and
phishing for everyone; SafeSearch for pupils and guests; bypass resistance for
everyone but staff.
"""

from __future__ import annotations

import ipaddress
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from appliance.endpoints import check_endpoint
from appliance.i18n import N_
from appliance.problems import UserError
from filter.lists import normalise

# Denied to every pupil (UT1 category names).
PUPIL_DENIED: Final = (
    "adult",
    "agressif",
    "cryptojacking",
    "dangerous_material",
    "dating",
    "ddos",
    "doh",
    "drogue",
    "gambling",
    "hacking",
    "lingerie",
    "malware",
    "mixed_adult",
    "phishing",
    "redirector",
    "remote-control",
    "sect",
    "stalkerware",
    "strict_redirector",
    "strong_redirector",
    "tricheur",
    "vpn",
    "warez",
)
SECURITY_DENIED: Final = ("cryptojacking", "malware", "phishing", "stalkerware")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _domains(values: list[str]) -> list[str]:
    for value in values:
        if normalise(value) is None:
            raise UserError(N_("« %(name)s » n'est pas un nom de domaine"), name=value)
    return values


class SafeSearchConfig(_Section):
    """SafeSearch per engine, enforced by CNAME for A, AAAA and HTTPS queries."""

    google: bool = Field(True, description="Google (every country domain).")
    bing: bool = Field(True, description="Bing strict.")
    youtube: Literal["strict", "moderate", "off"] = Field(
        "moderate", description="YouTube restricted mode (strict hides comments and more)."
    )
    duckduckgo: bool = Field(True, description="DuckDuckGo safe search.")
    brave: bool = Field(True, description="Brave Search safe search.")


_NO_SAFESEARCH: Final = {
    "google": False,
    "bing": False,
    "youtube": "off",
    "duckduckgo": False,
    "brave": False,
}


class GroupConfig(_Section):
    """A filtering group and what it may reach."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="Group name.")
    denied_categories: list[str] = Field(
        default_factory=list, description="List categories denied (UT1 names: adult, malware…)."
    )
    allow: list[str] = Field(
        default_factory=list, description="Domains always allowed (with subdomains)."
    )
    deny: list[str] = Field(default_factory=list, description="Domains always denied.")
    safesearch: SafeSearchConfig = Field(
        default_factory=SafeSearchConfig, description="SafeSearch per engine."
    )
    block_bypass: bool = Field(
        True, description="Block DoH canary, iCloud Private Relay and DDR discovery."
    )
    answer: Literal["nxdomain", "blockpage"] = Field(
        "nxdomain", description="Blocked names get NXDOMAIN or the block page's address."
    )
    max_ttl: int = Field(
        60,
        ge=0,
        description="Cap on TTLs sent to clients, so controls apply fast on devices (0: none).",
    )
    log_blocked: bool = Field(
        True, description="Keep blocked queries (by group, never by address) for review."
    )

    _check_allow = field_validator("allow", "deny")(_domains)


def _default_groups() -> list[GroupConfig]:
    pupils = list(PUPIL_DENIED)
    return [
        GroupConfig(
            name="ecole",
            denied_categories=[*pupils, "social_networks", "chat", "games", "shopping", "forums"],
            safesearch=SafeSearchConfig(youtube="strict"),
        ),
        GroupConfig(
            name="college", denied_categories=[*pupils, "social_networks", "chat", "shopping"]
        ),
        GroupConfig(name="lycee", denied_categories=pupils),
        GroupConfig(name="guests", denied_categories=pupils),
        GroupConfig(name="unknown", denied_categories=pupils),
        GroupConfig(
            name="teachers",
            denied_categories=[*SECURITY_DENIED, "adult"],
            safesearch=SafeSearchConfig.model_validate(_NO_SAFESEARCH),
            max_ttl=0,
            log_blocked=False,
        ),
        GroupConfig(
            name="staff",
            denied_categories=list(SECURITY_DENIED),
            safesearch=SafeSearchConfig.model_validate(_NO_SAFESEARCH),
            block_bypass=False,
            max_ttl=0,
            log_blocked=False,
        ),
    ]


class NetworkRule(_Section):
    """Clients in a network belong to a group (unless identified otherwise)."""

    cidr: str = Field(description="Network, e.g. 10.10.0.0/16 or fd00:10::/64.")
    group: str = Field(description="Group name.")

    @field_validator("cidr")
    @classmethod
    def _network(cls, value: str) -> str:
        ipaddress.ip_network(value, strict=False)
        return value


class StaticClient(_Section):
    """A fixed address in a group (a printer, the teachers' room PC)."""

    address: str = Field(description="IPv4 or IPv6 address.")
    group: str = Field(description="Group name.")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        ipaddress.ip_address(value)
        return value


class ListSource(_Section):
    """A list downloaded by the nightly job."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="List name.")
    url: str = Field(pattern=r"^(https?|file)://", description="Where to download it.")
    format: Literal["ut1", "domains", "hosts", "adblock"] = Field(description="File format.")
    category: str = Field("blocked", description="Category of its entries (not for ut1).")
    checksum_url: str = Field(
        "", description="URL of its MD5 or SHA-256 checksum file; empty: no check."
    )


class CacheSteeringConfig(_Section):
    """Answer update CDNs' names with the appliance, so downloads go through its cache (#6.2)."""

    enabled: bool = Field(False, description="Steer the cache rules' names to the appliance.")
    ipv4: str = Field("", description="The appliance's LAN address (the cache on port 80).")
    names: list[str] = Field(
        default_factory=list,
        description="More names to steer: exact, or *.suffix for sub-domains.",
    )
    search_domains: list[str] = Field(
        default_factory=list,
        description="The clients' search domains: their _apt_proxy._tcp SRV points at the "
        "cache (auto-apt-proxy) and their _aaplcache._tcp TXT lists apple_public_ranges.",
    )
    apple_public_ranges: list[str] = Field(
        default_factory=list,
        description="The school's public IPv4 addresses or ranges (A.B.C.D or A-B), published "
        "for Apple content caching when the site has several (never proxied).",
    )
    apt_proxy_port: int = Field(80, gt=0, lt=65536, description="Port named by that SRV.")

    @model_validator(mode="after")
    def _address(self) -> CacheSteeringConfig:
        if self.enabled and not self.ipv4:
            raise UserError(N_("ipv4 : obligatoire quand l'aiguillage est activé"))
        if self.ipv4:
            ipaddress.IPv4Address(self.ipv4)
        for name in self.names:
            if normalise(name.removeprefix("*.")) is None:
                raise UserError(
                    N_("names : « %(name)s » n'est ni un nom de domaine ni un *.suffixe"),
                    name=name,
                )
        _domains(self.search_domains)
        for value in self.apple_public_ranges:
            for address in value.split("-"):
                ipaddress.IPv4Address(address.strip())
        if self.apple_public_ranges and not self.search_domains:
            raise UserError(N_("apple_public_ranges : demande search_domains pour les publier"))
        return self


class FilterConfig(_Section):
    """DNS content filtering (#7.2, #9.2, #9.6)."""

    enabled: bool = Field(True, description="Run the DNS filter.")
    listen: list[str] = Field(
        default_factory=lambda: ["0.0.0.0:53"],
        min_length=1,
        description="ADDRESS:PORT to answer on (UDP and TCP); a school box uses port 53.",
    )
    upstreams: list[str] = Field(
        default_factory=lambda: ["127.0.0.1:5335"],
        min_length=1,
        description="Resolvers to forward to, in order (the box's unbound listens on 5335).",
    )
    upstream_timeout_seconds: float = Field(1.5, gt=0, le=10, description="Per upstream try.")
    client_networks: list[str] = Field(
        default_factory=lambda: [
            "127.0.0.0/8",
            "::1/128",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "fc00::/7",
            "fe80::/10",
        ],
        description="Only these clients get answers; others get REFUSED (never an open resolver).",
    )
    rate_limit_qps: int = Field(500, ge=1, description="Queries per second per client address.")
    rate_limit_burst: int = Field(1000, ge=1, description="Burst allowance per client address.")
    rate_limit_slip: int = Field(
        2, ge=0, description="Every Nth limited query gets TC=1 instead of silence (0: never)."
    )
    cache_entries: int = Field(50_000, ge=0, description="Answers kept in the cache.")
    serve_stale_seconds: int = Field(
        86_400, ge=0, description="How long expired answers may be served if upstreams fail."
    )
    blockpage_listen: str = Field(
        "", description="ADDRESS:PORT of the block page web server (port 80 on a box); empty: off."
    )
    blockpage_ipv4: str = Field("", description="Block page address for groups answering so.")
    blockpage_ipv6: str = Field("", description="IPv6 block page address.")
    blocked_log_days: int = Field(
        7, ge=1, le=90, description="Days blocked-query records are kept (by group, no address)."
    )
    pupil_default_group: str = Field(
        "college", description="Group of logged-in pupils whose level is unknown."
    )
    allow: list[str] = Field(default_factory=list, description="Domains allowed to everybody.")
    deny: list[str] = Field(default_factory=list, description="Domains denied to everybody.")
    allowlists: dict[str, list[str]] = Field(
        default_factory=lambda: {"examen": ["education.gouv.fr", "pix.fr", "eduscol.education.fr"]},
        description="Named allowlists for 'allowlist only' controls (exams, PIX).",
    )
    groups: list[GroupConfig] = Field(
        default_factory=_default_groups, min_length=1, description="Filtering groups."
    )
    networks: list[NetworkRule] = Field(
        default_factory=list, description="Networks whose clients belong to a group."
    )
    static_clients: list[StaticClient] = Field(
        default_factory=list, description="Fixed addresses in a group."
    )
    sources: list[ListSource] = Field(
        default_factory=list, description="Lists downloaded by the nightly job."
    )
    cache_steering: CacheSteeringConfig = Field(
        default_factory=CacheSteeringConfig, description="DNS steering to the update cache."
    )

    _check_allow = field_validator("allow", "deny")(_domains)

    @field_validator("listen", "upstreams")
    @classmethod
    def _endpoints(cls, values: list[str]) -> list[str]:
        return [check_endpoint(value) for value in values]

    @field_validator("client_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value, strict=False)
        return values

    @model_validator(mode="after")
    def _groups_exist(self) -> FilterConfig:
        names = {group.name for group in self.groups}
        if len(names) != len(self.groups):
            raise UserError(N_("groups : deux groupes portent le même nom"))
        for required in ("unknown", self.pupil_default_group):
            if required not in names:
                raise UserError(
                    N_("groups : un groupe nommé « %(name)s » est obligatoire"), name=required
                )
        for group in [r.group for r in self.networks] + [c.group for c in self.static_clients]:
            if group not in names:
                raise UserError(N_("aucun groupe nommé « %(name)s »"), name=group)
        for name, domains in self.allowlists.items():
            _domains(domains)
            if not name:
                raise UserError(N_("allowlists : une liste sans nom"))
        if self.blockpage_listen:
            check_endpoint(self.blockpage_listen)
        if self.blockpage_ipv4:
            ipaddress.IPv4Address(self.blockpage_ipv4)
        if self.blockpage_ipv6:
            ipaddress.IPv6Address(self.blockpage_ipv6)
        return self

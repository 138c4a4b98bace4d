"""The ``[cache]`` section of preau.toml: the app and update cache."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from appliance.endpoints import check_endpoint
from appliance.i18n import N_
from appliance.problems import UserError


def split_origin(address: str) -> tuple[str, int | None]:
    """Split ``ADDRESS[:PORT]`` (IPv6 in brackets when a port follows)."""
    if address.startswith("[") and "]:" in address:
        host, _, port = address[1:].partition("]:")
        return host, int(port)
    if address.count(":") == 1:
        host, _, port = address.partition(":")
        return host, int(port)
    return address.strip("[]"), None


class PrestageEntry(BaseModel):
    """One URL of a pre-staging list kept in the configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        pattern=r"^http://[^\s/?#]+/\S*$", description="An http:// URL (HTTPS is never cached)."
    )
    sha256: str = Field(
        "", pattern=r"^([0-9a-f]{64})?$", description="The publisher's SHA-256, when known."
    )


class CacheConfig(BaseModel):
    """One download per site, streamed to every device that asks for it (#6.2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="Run the update cache.")
    listen: list[str] = Field(
        default_factory=lambda: ["127.0.0.1:3142"],
        description="HTTP listeners (ADDRESS:PORT): port 80 on the LAN address for DNS "
        "steering, any port for the proxy (PAC) and Delivery Optimization.",
    )
    tls_passthrough: list[str] = Field(
        default_factory=list,
        description="ADDRESS:PORT (the LAN address, port 443) where steered names' HTTPS is "
        "joined to the real origin by its server name, never decrypted. Needed with DNS "
        "steering.",
    )
    data_dir: Path | None = Field(
        None, description="Where objects are stored (default: DATA_DIR/cache; an SSD, not the SD)."
    )
    max_size_gb: float = Field(50.0, gt=0, description="Disk the cache may use.")
    min_free_gb: float = Field(5.0, ge=0, description="Free space always left on that disk.")
    chunk_kib: int = Field(
        1024, ge=64, le=16384, description="Chunk size: the unit of the bitmap and of resuming."
    )
    resolver: str = Field(
        "",
        description="Resolver for origin names (ADDRESS:PORT, the box's unbound). Empty: the "
        "system's. Never the filter itself when it steers names to the cache.",
    )
    origins: dict[str, str] = Field(
        default_factory=dict,
        description="Fixed addresses for origin names (NAME = ADDRESS[:PORT]).",
    )
    rules_file: Path | None = Field(None, description="A site's own rules (default: shipped).")
    upstream_timeout_s: float = Field(
        30.0, gt=0, description="Give up on an origin silent for this long."
    )
    max_retries: int = Field(5, ge=0, description="Resumes of one fetch before giving up.")
    background_rate_mbit: float = Field(
        0.0,
        ge=0,
        description="WAN rate of pre-staging and background completion outside class hours "
        "(Mbit/s; 0: no limit).",
    )
    class_hours_rate_mbit: float = Field(
        5.0,
        gt=0,
        description="Their rate during class hours, so they never starve teaching traffic.",
    )

    prestage_plans: dict[str, list[PrestageEntry]] = Field(
        default_factory=dict,
        description="Pre-staging lists by name, kept from the configuration (a central policy "
        "sends the académie's this way); each start of the cache rewrites these plans and "
        "leaves the referent's others alone.",
    )

    @field_validator("prestage_plans")
    @classmethod
    def _plans(cls, plans: dict[str, list[PrestageEntry]]) -> dict[str, list[PrestageEntry]]:
        for name, entries in plans.items():
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", name):
                raise UserError(
                    N_("« %(name)s » : minuscules, chiffres et tirets (40 au plus)"), name=name
                )
            if len(entries) > 5000:
                raise UserError(N_("%(name)s : 5 000 adresses au plus"), name=name)
        return plans

    @field_validator("listen", "tls_passthrough")
    @classmethod
    def _listen(cls, values: list[str]) -> list[str]:
        return [check_endpoint(v, 3142) for v in values]

    @field_validator("resolver")
    @classmethod
    def _resolver(cls, value: str) -> str:
        return check_endpoint(value) if value else value

    @field_validator("origins")
    @classmethod
    def _origins(cls, values: dict[str, str]) -> dict[str, str]:
        for name, address in values.items():
            try:
                host, port = split_origin(address)
                ipaddress.ip_address(host)
            except ValueError:
                raise UserError(
                    N_("%(name)s : « %(address)s » n'est pas ADRESSE[:PORT]"),
                    name=name,
                    address=address,
                ) from None
            if port is not None and not 0 < port < 65536:
                raise UserError(
                    N_("%(name)s : « %(address)s » : port invalide"), name=name, address=address
                )
        return values

"""The ``[portal]`` section of preau.toml (captive portal for BYOD)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PortalConfig(_Section):
    """Captive portal for pupils' and teachers' own devices (#7.5, #5.17, #7.48)."""

    enabled: bool = Field(False, description="Run the captive portal (needs CAP_NET_ADMIN).")
    byod_interface: str = Field("byod0", description="Interface of the BYOD network.")
    wan_interface: str = Field("wan0", description="Interface towards the internet.")
    address: str = Field("10.77.0.1", description="The portal's address on the BYOD network.")
    http_port: int = Field(80, ge=1, le=65535, description="Portal HTTP port.")
    charter_version: str = Field("2026-09", min_length=1, description="Version of the charter.")
    charter_text: str = Field(
        "J'utilise le réseau de l'établissement pour mon travail scolaire et je respecte la "
        "charte informatique.",
        min_length=1,
        description="The charter shown before the first login and after each new version.",
    )
    hard_minutes: int = Field(480, ge=1, le=1440, description="Longest session.")
    idle_minutes: int = Field(30, ge=1, le=1440, description="Session ends after this idle time.")
    max_devices: int = Field(2, ge=1, le=10, description="Devices per account at once.")
    dhcp: bool = Field(True, description="Serve DHCP on the BYOD network (dnsmasq, DHCP only).")
    dhcp_first: str = Field("10.77.0.100", description="First address handed out.")
    dhcp_last: str = Field("10.77.0.250", description="Last address handed out.")
    lease_minutes: int = Field(60, ge=2, le=1440, description="DHCP lease length.")
    captive_api_url: str = Field(
        "", description="RFC 8908 API URL announced by DHCP option 114; empty: the portal's."
    )
    sweep_seconds: float = Field(
        10.0, gt=0, le=60, description="How often counters are sampled and timeouts applied."
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        ipaddress.IPv4Address(value)
        return value

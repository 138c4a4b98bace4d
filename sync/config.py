"""The ``[sync]`` section: how the box talks with the collectivité's centre (issue #14).

The URLs and the trust anchor come from the enrolment token, not from here:
the referent pastes one token and nothing else.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class TelemetryConfig(BaseModel):
    """Where the site's figures go besides the centre's intake (the centre may set these)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    remote_write_url: str = Field(
        "",
        pattern=r"^(https?://\S+)?$",
        description="A Prometheus remote_write receiver the reports are pushed to; empty: none.",
    )
    scrape_bearer_sha256: str = Field(
        "",
        pattern=r"^([0-9a-f]{64})?$",
        description="SHA-256 of the token the central Prometheus scrapes /api/v1/sync/openmetrics"
        " with (Authorization: Bearer); empty: no scraping.",
    )


class DevicesConfig(BaseModel):
    """What the exports for the collectivité's MDM put on devices (« Profils pour les MDM »)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    ssid: str = Field(
        "",
        max_length=32,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="Name (SSID) of the school's Wi-Fi for pupils' and teachers' devices; "
        "empty: no Wi-Fi in the exports.",
    )
    hidden: bool = Field(False, description="The Wi-Fi does not broadcast its name.")
    passphrase_file: Path | None = Field(
        None, description="File holding the Wi-Fi's WPA2 passphrase; none: an open network."
    )
    ca_cert: Path | None = Field(
        None,
        description="Root certificate (PEM) devices must trust; none: the self-signed root "
        "ending the portal's or the admin UI's certificate chain.",
    )
    signing_cert: Path | None = Field(
        None, description="Certificate (PEM) signing the Apple profile; none: unsigned."
    )
    signing_key: Path | None = Field(None, description="Private key (PEM) of signing_cert.")
    box_url: str = Field(
        "",
        pattern=r"^(https?://[A-Za-z0-9.:\[\]-]+)?$",
        description="Address devices reach the box's web UI at (e.g. https://preau.ecole.lan), "
        "for the app store's link; empty: the address the page is opened at.",
    )


class SyncConfig(BaseModel):
    """The link with the collectivité's centre (CARMO chapter 20, #5.8, #6.4)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    enabled: bool = Field(True, description="Run the link (idle until the box is enrolled).")
    poll_minutes: float = Field(
        15, ge=0.05, le=1440, description="Mean time between two reads of the central repository."
    )
    jitter_percent: int = Field(
        20, ge=0, le=50, description="Each wait is drawn within ± this share (no herd)."
    )
    long_poll: bool = Field(True, description="Also wait on the centre's « vérifier maintenant ».")
    report_minutes: float = Field(
        15, ge=0.05, le=1440, description="Time between two site reports put in the spool."
    )
    spool_max_kib: int = Field(
        65536,
        ge=16,
        le=4 * 1024 * 1024,
        description="Largest spool of reports waiting to go up (never above 5 % of the data disk).",
    )
    batch_kib: int = Field(
        256, ge=1, le=8192, description="Most of the spool sent in one request to the centre."
    )
    spool_max_days: int = Field(30, ge=1, le=365, description="Oldest report kept in the spool.")
    apply_check_seconds: int = Field(
        60, ge=5, le=3600, description="After a policy applies, how long services have to be ok."
    )
    inventory_url: str = Field(
        "",
        pattern=r"^(https?://\S+)?$",
        description="GLPI's native inventory address the box sends itself to every night "
        "(https://glpi.example/front/inventory.php); empty: not sent (the centre may set it).",
    )
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    devices: DevicesConfig = Field(default_factory=DevicesConfig)
    request_timeout_seconds: float = Field(
        20, ge=1, le=300, description="Longest wait for one answer of the centre."
    )

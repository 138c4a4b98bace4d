"""The ``[sync]`` section: how the box talks with the collectivité's centre (issue #14).

The URLs and the trust anchor come from the enrolment token, not from here:
the referent pastes one token and nothing else.
"""

from __future__ import annotations

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
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    request_timeout_seconds: float = Field(
        20, ge=1, le=300, description="Longest wait for one answer of the centre."
    )

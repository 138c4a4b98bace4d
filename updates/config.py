"""The ``[updates]`` section of preau.toml: how long a new system has to prove itself."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class UpdatesConfig(BaseModel):
    """System updates (A/B slots, signed bundles, the health gate)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gate_seconds: int = Field(
        300,
        ge=30,
        le=600,
        description=(
            "Seconds a newly booted system has to answer (web UI, DNS, portal) before the "
            "box goes back to the previous one."
        ),
    )

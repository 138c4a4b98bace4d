"""The ``[updates]`` section of preau.toml: who approves a system update, and its gate.

``approved_versions`` is the centre's way to approve (#5.8): its policy
bundle sets the key for its sites, locked or not, like any other key
(:mod:`sync.policy`). The referent approves from the page instead; the
approval is then a file of the data folder, bound to the bundle's digest.
``folder`` is where root keeps the offered bundle and the updates' records.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

# A bundle's version as RAUC's manifest carries it (letters, digits, . + ~ -).
VERSION: Final = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+~-]{0,63}$")


class UpdatesConfig(BaseModel):
    """System updates (A/B slots, signed bundles, approval, the health gate)."""

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
    approved_versions: list[str] = Field(
        default_factory=list,
        max_length=32,
        description=(
            "System versions approved in advance (usually set by the centre's policy): an "
            "offered bundle of one of these versions installs in the next maintenance window."
        ),
    )
    folder: Path = Field(
        Path("/var/lib/preau-update"),
        description="Where root keeps the offered bundle, the update in progress and outcomes.",
    )

    @field_validator("approved_versions")
    @classmethod
    def _versions(cls, versions: list[str]) -> list[str]:
        for version in versions:
            if not VERSION.match(version):
                raise ValueError(f"not a version: {version!r}")
        return versions

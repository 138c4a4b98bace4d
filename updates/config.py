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
from yarl import URL

from appliance.destinations import check_host
from appliance.endpoints import check_endpoint

# A bundle's version as RAUC's manifest carries it (letters, digits, . + ~ -).
VERSION: Final = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+~-]{0,63}$")


def check_source_url(text: str) -> str:
    """Return an http(s) URL with a proper host and no credentials, or refuse it."""
    try:
        url = URL(text.strip())
    except ValueError as err:
        raise ValueError(f"not a URL: {text[:80]!r}") from err
    if url.scheme not in ("http", "https") or not url.host or url.user or url.password:
        raise ValueError(f"an http(s) URL without credentials is expected: {text[:80]!r}")
    check_host(url.host)
    return str(url)


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
    source_url: str | None = Field(
        None,
        description=(
            "Where the box looks for new system versions: an index (JSON: version, url, "
            "sha256, size) the centre publishes; the bundle is downloaded, verified and offered."
        ),
    )
    resolvers: list[str] = Field(
        default_factory=lambda: ["9.9.9.9:53", "149.112.112.112:53"],
        max_length=4,
        description=(
            "Resolvers (ADDRESS:PORT) the updater asks for the source's name, never the box's own "
            "filter (a box whose filter is down must still fetch its mend); empty: the system's."
        ),
    )
    rauc_conf: Path | None = Field(
        None,
        description="RAUC's system.conf for verifying bundles (default: RAUC's, /etc/rauc).",
    )

    @field_validator("source_url")
    @classmethod
    def _source(cls, url: str | None) -> str | None:
        return None if url is None else check_source_url(url)

    @field_validator("resolvers")
    @classmethod
    def _resolvers(cls, endpoints: list[str]) -> list[str]:
        return [check_endpoint(endpoint) for endpoint in endpoints]

    @field_validator("approved_versions")
    @classmethod
    def _versions(cls, versions: list[str]) -> list[str]:
        for version in versions:
            if not VERSION.match(version):
                raise ValueError(f"not a version: {version!r}")
        return versions

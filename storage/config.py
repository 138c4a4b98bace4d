"""The ``[productions]`` section of preau.toml (pupils' and teachers' work)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from appliance.i18n import N_
from appliance.problems import UserError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpaceQuota(_Section):
    """Capacity of one role's spaces (#8.7, #8.8)."""

    pedagogical_mb: int = Field(ge=1, description="Pedagogical space (backed up).")
    personnel_mb: int = Field(ge=1, description="PERSONNEL (encrypted, never backed up).")


def _default_quotas() -> dict[str, SpaceQuota]:
    return {
        "pupil": SpaceQuota(pedagogical_mb=500, personnel_mb=500),
        "teacher": SpaceQuota(pedagogical_mb=5000, personnel_mb=2000),
        "staff": SpaceQuota(pedagogical_mb=1000, personnel_mb=1000),
        "referent": SpaceQuota(pedagogical_mb=1000, personnel_mb=1000),
    }


class AntivirusConfig(_Section):
    """ClamAV scanning of every upload before it is stored (#8.12)."""

    enabled: bool = Field(True, description="Scan uploads with clamd; off only for a demo.")
    clamd_socket: str = Field(
        "/run/clamav/clamd.ctl", description="clamd's local socket (LocalSocket in clamd.conf)."
    )
    timeout_seconds: float = Field(
        60.0, gt=0, le=600, description="Longest wait for clamd's verdict after an upload."
    )
    when_clamd_down: Literal["refuse", "hold"] = Field(
        "refuse",
        description="clamd unreachable: refuse uploads, or hold them unseen and scan them "
        "when it is back (plain spaces only: PERSONNEL is always refused).",
    )
    database_dir: Path = Field(
        Path("/var/lib/clamav"),
        description="Where freshclam keeps the signatures (their age goes in the site report).",
    )


class BackupConfig(_Section):
    """restic backups of the pedagogical spaces, never of PERSONNEL (#7.15, #7.16, #4.15)."""

    enabled: bool = Field(False, description="Back the pedagogical spaces up every night.")
    repository: str = Field(
        "",
        description="restic repository: a path (USB disk), sftp:host:/path or rest:https://….",
    )
    password_file: Path | None = Field(
        None, description="File holding the repository password (kept out of this file)."
    )
    keep_daily: int = Field(7, ge=1, le=365, description="Daily snapshots kept.")
    keep_weekly: int = Field(5, ge=0, le=520, description="Weekly snapshots kept.")
    keep_monthly: int = Field(12, ge=0, le=120, description="Monthly snapshots kept.")

    @model_validator(mode="after")
    def _complete(self) -> BackupConfig:
        if self.enabled and (not self.repository or self.password_file is None):
            raise UserError(N_("une sauvegarde activée demande repository et password_file"))
        return self


class ProductionsConfig(_Section):
    """Storage of pupils' and teachers' work: pedagogical space and PERSONNEL (#8.6)."""

    enabled: bool = Field(True, description="Offer the spaces (web and API).")
    kdf_profile: Literal["rfc9106-low-memory", "owasp-minimum"] = Field(
        "rfc9106-low-memory", description="Argon2id cost sealing each PERSONNEL key."
    )
    recovery_codes: bool = Field(
        True, description="Give each person a recovery code for PERSONNEL (shown once)."
    )
    quotas: dict[str, SpaceQuota] = Field(
        default_factory=_default_quotas, description="Capacity per role and space."
    )
    warn_percent: list[int] = Field(
        default_factory=lambda: [80, 95],
        description="Usage thresholds that warn the person and the referent.",
    )
    max_upload_mb: int = Field(2000, ge=1, description="Largest single upload.")
    webdav_listen: str = Field(
        "",
        description="ADDRESS:PORT serving the pedagogical spaces over WebDAV (HTTPS with "
        "web.tls_cert); empty: off.",
    )
    departed_grace_days: int = Field(
        90,
        ge=1,
        le=730,
        description="A person who left keeps read access this long; then both spaces are erased.",
    )
    antivirus: AntivirusConfig = Field(default_factory=AntivirusConfig)
    backup: BackupConfig = Field(default_factory=BackupConfig)

    @field_validator("warn_percent")
    @classmethod
    def _thresholds(cls, value: list[int]) -> list[int]:
        if sorted(value) != value or any(not 0 < v < 100 for v in value):
            raise UserError(N_("des pourcentages croissants entre 1 et 99"))
        return value

    @field_validator("quotas", mode="before")
    @classmethod
    def _over_defaults(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        merged: dict[str, object] = {k: v.model_dump() for k, v in _default_quotas().items()}
        for role, quota in value.items():
            base = merged.get(role, {})
            merged[role] = (
                {**base, **quota} if isinstance(quota, dict) and isinstance(base, dict) else quota
            )
        return merged

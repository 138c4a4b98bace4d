"""The ``[store]`` section: the school's private app store (#6.4, #7.37, #7.38)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class StoreConfig(BaseModel):
    """The school's private app store (#6.4, #7.37, #7.38)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    folder: Path | None = Field(None, description="Where packages live (default: DATA_DIR/store).")
    max_package_mb: int = Field(4096, ge=1, le=65536, description="Largest package accepted.")

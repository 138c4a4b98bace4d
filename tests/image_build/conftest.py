"""Fixtures of the package tests: the package built once per session, a booted machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.image_build.box import SUITE
from tests.image_build.machine import build_deb, image


@pytest.fixture(scope="session")
def preau_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build Préau's package from this checkout, once per test session."""
    return build_deb(tmp_path_factory.mktemp("deb"))


@pytest.fixture(scope="session")
def disk(preau_deb: Path) -> Path:
    """Return the pristine disk's folder for this host's Debian release."""
    return image(SUITE, preau_deb)

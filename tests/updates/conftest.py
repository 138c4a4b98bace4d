"""The updates' tests: the real admin app, with root's update folder in the test's own folder."""

from pathlib import Path

import pytest

from appliance.config import PreauConfig
from tests.appliance.web.conftest import client
from tests.conftest import make_config

__all__ = ["client"]


@pytest.fixture
def config(tmp_path: Path) -> PreauConfig:
    """Return a config whose offered bundle and records lie under the test's folder."""
    return make_config(tmp_path / "data", updates={"folder": str(tmp_path / "update")})

"""Fixtures for identity tests: a core wired to the real test slapd."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.core import Core
from tests.conftest import LdapServer, SchoolCA, ldap_section, make_config, opened_core


@pytest.fixture
async def ldap_core(
    tmp_path: Path, school_ldap: LdapServer, test_ca: SchoolCA
) -> AsyncIterator[Core]:
    """Return an opened core whose directory is the shared test slapd."""
    config = make_config(
        tmp_path / "data", identity={"ldap": ldap_section(school_ldap, test_ca.ca_cert, tmp_path)}
    )
    async with opened_core(config) as core:
        yield core

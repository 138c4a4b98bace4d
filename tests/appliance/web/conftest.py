"""Fixtures for web tests: the real app factory on a core, local accounts."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.identity.model import Person
from appliance.web.api_routes import CHECK_REPLIES_KEY
from appliance.web.app import create_app
from tests.conftest import SCHOOL_UAI

PASSWORDS = {
    "referent": "referent-password-1",
    "prof": "teacher-password-1",
    "eleve": "pupil-password-1",
}


async def seed_local_people(core: Core) -> None:
    """Create a referent, a teacher and a pupil as local accounts."""
    people = [
        Person("referent", "local", "Camille Martin", "referent", SCHOOL_UAI),
        Person("prof", "local", "Sophie Durand", "teacher", SCHOOL_UAI, teaches=("6A",)),
        Person("eleve", "local", "Jo D.", "pupil", SCHOOL_UAI, class_name="6A"),
    ]
    for person in people:
        await core.directory.add_local_person(person, PASSWORDS[person.id])


ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(core: Core, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    """Return a test client of the real admin app, with local accounts seeded."""
    await seed_local_people(core)
    app = create_app(core)
    app[CHECK_REPLIES_KEY] = True  # every answer is read through its declared model
    return await aiohttp_client(app)


async def api_login(client: TestClient[Any, Any], login: str, password: str | None = None) -> str:
    """Log in through the API; return the session's CSRF token."""
    response = await client.post(
        "/api/v1/session", json={"login": login, "password": password or PASSWORDS[login]}
    )
    assert response.status == 200, await response.text()
    return str((await response.json())["csrf_token"])


async def login_as(client: TestClient[Any, Any], login: str, password: str | None = None) -> str:
    """Log out whoever is in, log ``login`` in; return the session's CSRF token."""
    await client.delete("/api/v1/session")
    return await api_login(client, login, password)


async def put_file(
    client: TestClient[Any, Any], token: str, url: str, path: str, body: bytes
) -> Any:
    """PUT ``body`` as the raw upload at ``url?path=``."""
    return await client.put(
        url,
        params={"path": path},
        data=io.BytesIO(body),
        headers={"X-CSRF-Token": token, "Content-Type": "application/octet-stream"},
    )

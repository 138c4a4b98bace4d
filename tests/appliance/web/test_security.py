"""CSRF protection and security headers (ASVS V3.4, V3.5, V14.3.2)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.appliance.web.conftest import PASSWORDS, api_login


async def test_state_change_without_csrf_token_is_refused(client: TestClient[Any, Any]) -> None:
    await api_login(client, "referent")
    response = await client.post(
        "/api/v1/calendar/closed-days", json={"day": "2027-05-07", "reason": "pont"}
    )
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "csrf"
    row = await client.get("/api/v1/calendar/closed-days")
    assert (await row.json())["closed_days"] == []


async def test_state_change_with_wrong_csrf_token_is_refused(client: TestClient[Any, Any]) -> None:
    await api_login(client, "referent")
    response = await client.post(
        "/api/v1/calendar/closed-days",
        json={"day": "2027-05-07", "reason": "pont"},
        headers={"X-CSRF-Token": "forged"},
    )
    assert response.status == 403


async def test_state_change_with_csrf_token_is_accepted(client: TestClient[Any, Any]) -> None:
    token = await api_login(client, "referent")
    response = await client.post(
        "/api/v1/calendar/closed-days",
        json={"day": "2027-05-07", "reason": "pont"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 201


async def test_form_post_without_token_is_refused(client: TestClient[Any, Any]) -> None:
    await api_login(client, "referent")
    response = await client.post(
        "/settings/closed-days", data={"day": "2027-05-07", "reason": "x"}, allow_redirects=False
    )
    assert response.status == 403
    response = await client.post("/logout", data={}, allow_redirects=False)
    assert response.status == 403


async def test_cross_site_request_is_refused_even_with_token(client: TestClient[Any, Any]) -> None:
    token = await api_login(client, "referent")
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        response = await client.post(
            "/api/v1/calendar/closed-days",
            json={"day": "2027-05-07", "reason": "pont"},
            headers={"X-CSRF-Token": token, **headers},
        )
        assert response.status == 403


async def test_login_form_needs_its_double_submit_token(client: TestClient[Any, Any]) -> None:
    form = {"login": "referent", "password": PASSWORDS["referent"]}
    response = await client.post("/login", data=form, allow_redirects=False)
    assert response.status == 403
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token is not None
    response = await client.post(
        "/login", data={**form, "csrf_token": token.group(1)}, allow_redirects=False
    )
    assert response.status == 303
    assert response.headers["Location"] == "/dashboard"


async def test_api_login_refuses_form_encoding(client: TestClient[Any, Any]) -> None:
    # A cross-site form can post url-encoded bodies without a preflight; JSON only.
    response = await client.post(
        "/api/v1/session", data={"login": "referent", "password": PASSWORDS["referent"]}
    )
    assert response.status == 403


@pytest.mark.parametrize("path", ["/login", "/dashboard", "/api/v1/openapi.json", "/nope"])
async def test_security_headers_on_every_route(client: TestClient[Any, Any], path: str) -> None:
    await api_login(client, "referent")
    response = await client.get(path, allow_redirects=False)
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "object-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


async def test_session_cookie_flags(client: TestClient[Any, Any]) -> None:
    response = await client.post(
        "/api/v1/session", json={"login": "referent", "password": PASSWORDS["referent"]}
    )
    cookie = response.headers.getall("Set-Cookie")
    session = next(c for c in cookie if c.startswith("preau_session="))
    assert "HttpOnly" in session
    assert "SameSite=Strict" in session
    # 256-bit token.
    value = session.split(";")[0].split("=", 1)[1]
    assert len(value) >= 43

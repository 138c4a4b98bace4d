"""Every route the web app registers, as every role, with hostile paths (issue #11).

The crawler asks each route (pages and API) as nobody, a pupil, a teacher
and the referent, putting a corpus of traversal, encoding, NUL, long-name,
bidi and path-under-file payloads in every path parameter and every
path-like query parameter, and odd Range headers. It holds the app to:

* no 500, whatever was asked;
* nothing from outside the caller's own space in any answer: not another
  pupil's canary, not ``/etc/passwd``, not the config or the state DB;
* the security headers on every answer, streamed ones included.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from appliance.config import PreauConfig
from appliance.core import Core
from appliance.identity.model import Person
from tests.appliance.web.conftest import PASSWORDS, api_login
from tests.conftest import SCHOOL_UAI, make_config

pytestmark = pytest.mark.timeout(600)

CANARY = "canari-7f3e1d"
PAYLOADS = [
    "../../../../../../../etc/passwd",
    "../../../pedagogical/voisin/secret",
    "/../../../../preau.toml",
    "..%2f..%2f..%2fetc%2fpasswd",
    "....//....//....//etc/passwd",
    "a\\..\\..\\..\\etc\\passwd",
    "a/\0/b",
    "\0",
    "ligne\nsuivante",
    "x" * 300,
    "é" * 200,
    "cours\u202etxt.exe",
    "devoir.txt/child.txt",
    "/".join(["d"] * 600),
    "",
    "/",
]
PATH_QUERY = ("path", "chemin", "dossier", "source", "target", "espace", "space", "nom")
RANGES = ("bytes=-0", "bytes=99999999999999999999-", "bytes=5-1", "octets=0-1")
LEAKS = ("root:x:0:0", CANARY, "SQLite format", "Traceback")
CONFIG_LEAKS = ("[site]", "state.db")  # the referent's settings page shows the config
SECURITY = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options")
SKIPPED = {("DELETE", "/api/v1/session"), ("POST", "/logout")}  # would end the crawl's session


@pytest.fixture
def config(tmp_path: Path) -> PreauConfig:
    """The crawl's wrong passwords (erase, unlock) must not lock its own logins out."""
    throttle = {"per_source_per_minute": 1_000_000, "free_failures": 1_000_000}
    return make_config(tmp_path / "data", web={"throttle": throttle})


def _routes(app: web.Application) -> list[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path")
        if template is None or route.method == "HEAD" or template.startswith("/static"):
            continue
        found.add((route.method, template))
    return sorted(found)


def _fill(template: str, payload: str) -> Iterator[str]:
    """Yield URLs with the payload in each path parameter in turn (others plausible)."""
    names = [part[1:-1] for part in template.split("/") if part.startswith("{")]
    plausible = {"space": "pedagogical", "class_name": "6A", "assignment_id": "1",
                 "pupil": "eleve", "person_id": "eleve", "role": "pupil"}  # fmt: skip
    if not names:
        yield template
        return
    for target in names:
        url = template
        for name in names:
            value = payload if name == target else plausible.get(name, "1")
            url = url.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
        yield url


async def _seed(core: Core, client: TestClient[Any, Any]) -> None:
    await core.directory.add_local_person(
        Person("voisin", "local", "Voisin", "pupil", SCHOOL_UAI, class_name="6A"), "voisin-pass-1"
    )
    token = await api_login(client, "voisin", "voisin-pass-1")
    for space in ("pedagogical", "personnel"):
        stored = await client.put(
            f"/api/v1/spaces/{space}/file",
            params={"path": f"secret/{CANARY}.txt"},
            data=CANARY.encode(),
            headers={"X-CSRF-Token": token},
        )
        assert stored.status == 201
    await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
    token = await api_login(client, "prof")
    stored = await client.put(
        "/api/v1/classes/6A/distribution/file",
        params={"path": "cours.pdf"},
        data=b"%PDF",
        headers={"X-CSRF-Token": token},
    )
    assert stored.status == 201
    made = await client.post(
        "/api/v1/classes/6A/assignments",
        json={"title": "Rédaction"},
        headers={"X-CSRF-Token": token},
    )
    assert made.status == 201
    await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})


async def test_no_route_answers_500_leaks_or_forgets_its_headers(
    client: TestClient[Any, Any], core: Core
) -> None:
    await _seed(core, client)
    routes = _routes(client.app)
    assert len(routes) > 60, routes  # the crawler sees the whole app
    problems: list[str] = []
    asked = 0

    async def login(role: str) -> str:
        return await api_login(client, role, PASSWORDS[role])

    for role in (None, "eleve", "prof", "referent"):
        await client.delete("/api/v1/session")
        token = await login(role) if role else ""
        for method, template in routes:
            if (method, template) in SKIPPED:
                continue
            for payload in PAYLOADS:
                for url in _fill(template, payload):
                    # Long payloads go in two parameters only: a request line over 8 KiB is
                    # refused by aiohttp's parser before the app (a 400, nothing to leak).
                    wide = len(urllib.parse.quote(payload)) < 600
                    query = {name: payload for name in (PATH_QUERY if wide else PATH_QUERY[:2])}
                    headers = {"X-CSRF-Token": token, "Range": RANGES[asked % len(RANGES)]}
                    body: Any = {"path": payload, "source": payload, "target": payload,
                                 "nom": payload, "reason": payload}  # fmt: skip
                    kwargs: dict[str, Any] = {"params": query, "headers": headers}
                    if method in ("POST", "PUT", "PATCH"):
                        if template.endswith("/file") or template.endswith("/rendu"):
                            kwargs["data"] = b"x"
                        else:
                            kwargs["json"] = body
                    response = await client.request(method, url, **kwargs)
                    asked += 1
                    text = (await response.read())[:200_000].decode("utf-8", "replace")
                    where = f"{role or 'anonymous'} {method} {url[:80]} {payload[:30]!r}"
                    if response.status >= 500:
                        problems.append(f"{response.status} {where}")
                    leaks = LEAKS if role == "referent" else LEAKS + CONFIG_LEAKS
                    problems += [f"leak {leak!r}: {where}" for leak in leaks if leak in text]
                    problems += [
                        f"no {name}: {where}" for name in SECURITY if name not in response.headers
                    ]
                    if "aiohttp" in response.headers.get("Server", ""):
                        problems.append(f"banner: {where}")
                    if role and response.status == 401:
                        token = await login(role)
    assert asked > 5_000
    assert not problems, "\n".join(problems[:40]) + f"\n… {len(problems)} in all"

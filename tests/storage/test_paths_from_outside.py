"""The reproducers of issue #11 against the spaces and class areas (CARMO #8.8, #8.11).

F1 a pupil listed any directory through Distribution's ``?path=``; F2 the
exact size of any file leaked in ``Content-Length``; F5 hidden names were
not counted; F6 long names and paths under a file gave 500 with the
exception; F7 streamed answers lacked the security headers; a symlink inside
a space was followed. Each is asked here as the attacker did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from appliance.core import Core
from storage.pedagogical import user_folder
from tests.appliance.web.conftest import login_as, put_file

BASE = "/api/v1/classes/6A"
TRAVERSALS = [
    "../../../pedagogical/eleve",
    "../../../../../../../etc",
    "../../../../../../../etc/shadow",
    "/../../preau.toml",
    "Chapitre/../../../..",
    "..",
    "a\\..\\..\\etc",
    "a/\0/b",
    "a\nb",
    "cours\u202efdp.exe",
    "x" * 256,
    "é" * 128,
    "/".join(["d"] * 600),
]


def _data(core: Core) -> Path:
    return core.config.site.data_dir


async def test_distribution_lists_and_sizes_nothing_outside_the_class(
    client: TestClient[Any, Any], core: Core
) -> None:
    token = await login_as(client, "eleve")
    secret = await put_file(
        client, token, "/api/v1/spaces/pedagogical/file", "secret/journal.txt", b"x" * 631
    )
    assert secret.status == 201
    token = await login_as(client, "prof")
    put = await put_file(client, token, f"{BASE}/distribution/file", "Chapitre/cours.pdf", b"%PDF")
    assert put.status == 201
    for login in ("eleve", "prof", "referent"):
        await login_as(client, login)
        for path in TRAVERSALS:
            listed = await client.get(f"{BASE}/distribution", params={"path": path})
            # 422: over the route's declared length, refused before any lookup.
            assert listed.status in (400, 404, 422), (login, path, listed.status)
            body = await listed.text()
            for leaked in ("journal", "shadow", "passwd"):
                assert leaked not in body
            got = await client.get(f"{BASE}/distribution/file", params={"path": path})
            assert got.status in (400, 404, 422), (login, path, got.status)
            # F2: no size of anything outside, not even in the headers.
            assert got.headers.get("Content-Length") != "631"
            assert len(await got.read()) < 300
            assert got.headers["X-Content-Type-Options"] == "nosniff"
        escaped = await client.get(
            f"{BASE}/distribution/file",
            params={"path": "../../../pedagogical/eleve/secret/journal.txt"},
        )
        assert escaped.status == 400
        assert "invalide" in (await escaped.json())["error"]["message"]  # said in French


async def test_a_link_inside_a_space_is_never_followed(
    client: TestClient[Any, Any], core: Core
) -> None:
    token = await login_as(client, "eleve")
    assert (await put_file(client, token, "/api/v1/spaces/pedagogical/file", "a.txt", b"a")).status
    home = user_folder(_data(core) / "productions" / "pedagogical", "eleve")
    (home / "etc").symlink_to("/etc")
    (home / "lien.txt").symlink_to("/etc/hostname")
    for path in ("etc", "etc/hostname", "lien.txt"):
        listed = await client.get("/api/v1/spaces/pedagogical/folder", params={"path": path})
        assert listed.status == 400, path
        got = await client.get("/api/v1/spaces/pedagogical/file", params={"path": path})
        assert got.status == 400, path
        page = await client.get(
            "/fichiers/telecharger", params={"espace": "pedagogical", "chemin": path}
        )
        assert page.status == 404, path
    top = await (await client.get("/api/v1/spaces/pedagogical/folder")).json()
    assert [e["name"] for e in top["entries"]] == ["a.txt"]  # links are not listed


@pytest.mark.parametrize("space", ["pedagogical", "personnel"])
async def test_bad_names_are_refused_in_french_never_a_500(
    client: TestClient[Any, Any], core: Core, space: str
) -> None:
    token = await login_as(client, "eleve")
    url = f"/api/v1/spaces/{space}/file"
    # The longest name that fits (255 bytes) is taken, in both spaces.
    longest = "n" * 251 + ".txt"
    assert (await put_file(client, token, url, longest, b"ok")).status == 201
    assert (await put_file(client, token, url, "a.txt", b"a")).status == 201
    for bad in ["n" * 252 + ".txt", "é" * 128, "a\0b", "a\nb", "x\u202etxt.exe", ".."]:
        refused = await put_file(client, token, url, bad, b"x")
        assert refused.status == 400, (bad, refused.status)
        assert "Traceback" not in await refused.text()
    # F6: a path under a file is a conflict, not an exception.
    under = await put_file(client, token, url, "a.txt/child.txt", b"x")
    assert under.status == 409
    assert "dossiers du chemin" in (await under.json())["error"]["message"]
    folder = await client.post(
        f"/api/v1/spaces/{space}/folder",
        json={"path": "a.txt/sub"},
        headers={"X-CSRF-Token": token},
    )
    assert folder.status == 409


async def test_hidden_names_count_are_listed_and_exported(
    client: TestClient[Any, Any], core: Core
) -> None:
    token = await login_as(client, "eleve")
    url = "/api/v1/spaces/pedagogical/file"
    assert (await put_file(client, token, url, ".cache/big.bin", b"z" * 10_000)).status == 201
    assert (await put_file(client, token, url, ".hidden", b"h" * 500)).status == 201
    spaces = await (await client.get("/api/v1/spaces")).json()
    assert spaces["pedagogical"]["used_bytes"] == 10_500
    top = await (await client.get("/api/v1/spaces/pedagogical/folder")).json()
    assert {e["name"] for e in top["entries"]} == {".cache", ".hidden"}
    export = await client.get("/api/v1/spaces/export")
    body = await export.read()
    assert b"pedagogique/.cache/big.bin" in body
    assert export.headers["Content-Security-Policy"]  # F7: streamed answers too
    assert export.headers["X-Frame-Options"] == "DENY"
    assert export.headers["X-Content-Type-Options"] == "nosniff"
    assert "aiohttp" not in export.headers.get("Server", "")
    # Nothing of Préau's own is left in the person's folder after uploads.
    home = user_folder(_data(core) / "productions" / "pedagogical", "eleve")
    assert not [p for p in home.rglob("*.part")]


async def test_a_download_carries_every_security_header(
    client: TestClient[Any, Any], core: Core
) -> None:
    token = await login_as(client, "eleve")
    assert (await put_file(client, token, "/api/v1/spaces/pedagogical/file", "a.txt", b"a")).status
    got = await client.get("/api/v1/spaces/pedagogical/file", params={"path": "a.txt"})
    assert got.status == 200
    for name in ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"):
        assert got.headers.get(name), name
    assert got.headers["Server"] == "Preau"


async def test_a_path_is_checked_as_it_was_sent_not_stripped(
    client: TestClient[Any, Any], core: Core
) -> None:
    """Found by the names property test: "0\\r" was stripped to "0" by the API only."""
    token = await login_as(client, "eleve")
    headers = {"X-CSRF-Token": token}
    for name in ("0\r", "notes\t", " \n"):
        put = await put_file(client, token, "/api/v1/spaces/pedagogical/file", name, b"x")
        assert put.status == 400, repr(name)
        folder = await client.post(
            "/api/v1/spaces/pedagogical/folder", json={"path": name}, headers=headers
        )
        assert folder.status in (400, 422), repr(name)
    listed = await (await client.get("/api/v1/spaces/pedagogical/folder")).json()
    assert listed["entries"] == []

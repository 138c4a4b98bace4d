"""Every upload is scanned by a real clamd before it is stored (#8.12): EICAR is
refused in both spaces, audited, and leaves nothing; with clamd down, uploads
are refused, never accepted unscanned."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from appliance.antivirus import ScannerUnavailable, Verdict, parse_reply
from appliance.core import Core
from appliance.web.app import create_app
from tests.appliance.web.conftest import ClientFactory, api_login, seed_local_people
from tests.conftest import EICAR, Clamd, make_config, opened_core

FILE = "/api/v1/spaces/{space}/file"


def test_clamd_replies_are_read_strictly() -> None:
    assert parse_reply(b"stream: OK\0") == Verdict(True)
    assert parse_reply(b"stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0") == Verdict(
        False, "Eicar-Test-Signature.UNOFFICIAL"
    )
    for bad in (b"", b"stream: INSTREAM size limit exceeded. ERROR\0", b"garbage"):
        with pytest.raises(ScannerUnavailable):
            parse_reply(bad)


@pytest.fixture
async def scanned(
    tmp_path: Path, clamd: Clamd, aiohttp_client: ClientFactory
) -> AsyncIterator[tuple[Any, Core]]:
    config = make_config(
        tmp_path / "data",
        productions={"antivirus": {"enabled": True, "clamd_socket": str(clamd.socket)}},
    )
    async with opened_core(config) as core:
        await seed_local_people(core)
        yield await aiohttp_client(create_app(core)), core


async def _put(client: TestClient[Any, Any], token: str, space: str, path: str, body: bytes) -> Any:
    return await client.put(
        FILE.format(space=space),
        params={"path": path},
        data=io.BytesIO(body),
        headers={"X-CSRF-Token": token, "Content-Type": "application/octet-stream"},
    )


async def test_an_infected_upload_is_refused_and_nothing_is_stored(
    scanned: tuple[TestClient[Any, Any], Core], clamd: Clamd
) -> None:
    client, core = scanned
    token = await api_login(client, "eleve")
    for space in ("pedagogical", "personnel"):
        clean = os.urandom(3_000_000)
        assert (await _put(client, token, space, "Cours/propre.bin", clean)).status == 201
        # The virus comes after megabytes of clean data: the verdict is for the whole file.
        infected = await _put(client, token, space, "Cours/virus.com", clean + EICAR)
        assert infected.status == 422
        message = (await infected.json())["error"]["message"]
        assert "Fichier refusé" in message
        assert "Eicar-Test-Signature" in message
        # An infected new version does not replace the clean one either.
        replaced = await _put(client, token, space, "Cours/propre.bin", EICAR)
        assert replaced.status == 422
        got = await client.get(FILE.format(space=space), params={"path": "Cours/propre.bin"})
        assert await got.read() == clean
        names = [
            e["name"]
            for e in (
                await (
                    await client.get(f"/api/v1/spaces/{space}/folder", params={"path": "Cours"})
                ).json()
            )["entries"]
        ]
        assert names == ["propre.bin"]
    leftovers = [
        p
        for p in (core.config.site.data_dir / "productions").rglob("*")
        if p.name.endswith(".part")
    ]
    assert leftovers == []
    audit = [e for e in await core.audit.recent(50) if e["action"] == "antivirus.infected"]
    assert len(audit) == 4
    assert all("Eicar" in e["detail"] for e in audit)
    # clamd's own temporary files live in RAM (a tmpfs), never on the disk.
    assert list(clamd.temporary.iterdir()) == []


async def test_with_clamd_down_uploads_are_refused_not_accepted(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    config = make_config(
        tmp_path / "data",
        productions={
            "antivirus": {"enabled": True, "clamd_socket": str(tmp_path / "no-clamd.sock")}
        },
    )
    async with opened_core(config) as core:
        await seed_local_people(core)
        client = await aiohttp_client(create_app(core))
        token = await api_login(client, "eleve")
        for space in ("pedagogical", "personnel"):
            refused = await _put(client, token, space, "a.txt", b"bonjour")
            assert refused.status == 503
            assert "antivirus ne répond pas" in (await refused.json())["error"]["message"]
            missing = await client.get(FILE.format(space=space), params={"path": "a.txt"})
            assert missing.status == 404


async def test_hold_then_scan_lets_clean_files_in_and_throws_viruses_away(
    tmp_path: Path, clamd: Clamd, aiohttp_client: ClientFactory
) -> None:
    from storage.store import ProductionsStore

    down = {"enabled": True, "clamd_socket": str(tmp_path / "down.sock"), "when_clamd_down": "hold"}
    config = make_config(tmp_path / "data", productions={"antivirus": down})
    async with opened_core(config) as core:
        await seed_local_people(core)
        client = await aiohttp_client(create_app(core))
        token = await api_login(client, "eleve")
        clean = await _put(client, token, "pedagogical", "Cours/propre.txt", b"propre")
        assert clean.status == 202
        assert "mis de côté" in (await clean.json())["message"]
        infected = await _put(client, token, "pedagogical", "Cours/virus.com", EICAR)
        assert infected.status == 202
        # Unseen while held; PERSONNEL is never held (nobody could scan it later).
        listed = await client.get("/api/v1/spaces/pedagogical/folder", params={"path": "Cours"})
        assert listed.status == 404
        private = await _put(client, token, "personnel", "a.txt", b"x")
        assert private.status == 503
        # clamd is back: held uploads are scanned, the clean one appears, the virus goes.
        back = config.model_copy(
            update={
                "productions": config.productions.model_copy(
                    update={
                        "antivirus": config.productions.antivirus.model_copy(
                            update={"clamd_socket": str(clamd.socket)}
                        )
                    }
                )
            }
        )
        core.config = back  # the same box, clamd restarted on its usual socket
        released, refused = await ProductionsStore(core).release_held()
        assert (released, refused) == (1, 1)
        got = await client.get(
            FILE.format(space="pedagogical"), params={"path": "Cours/propre.txt"}
        )
        assert await got.read() == b"propre"
        gone = await client.get(
            FILE.format(space="pedagogical"), params={"path": "Cours/virus.com"}
        )
        assert gone.status == 404
        held_root = config.site.data_dir / "productions" / "held"
        assert list(held_root.iterdir()) == []
        assert await core.db.fetchall("SELECT * FROM held_uploads") == []
        audit = [e for e in await core.audit.recent(20) if e["action"] == "antivirus.infected"]
        assert [e["target"] for e in audit] == ["held"]

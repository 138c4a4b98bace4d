"""Each person's spaces through the API: their own only, PERSONNEL unreadable by
anyone else, the referent included; quotas; a password changed in the directory
(issue #5; CARMO #7.30, #7.31, #8.2, #8.6, #8.7, #8.11)."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.web.api_routes import API_TABLES_KEY
from appliance.web.app import create_app
from tests.appliance.web.conftest import PASSWORDS, ClientFactory, api_login, seed_local_people
from tests.conftest import make_config, opened_core

CANARY_NAME = "journal-intime-5e1d0a"
CANARY_TEXT = b"le-secret-de-jo-c47b19"
FILE = "/api/v1/spaces/{space}/file"


async def _put(client: TestClient[Any, Any], token: str, space: str, path: str, body: bytes) -> Any:
    return await client.put(
        FILE.format(space=space),
        params={"path": path},
        data=io.BytesIO(body),
        headers={"X-CSRF-Token": token, "Content-Type": "application/octet-stream"},
    )


async def test_a_pupil_keeps_work_in_both_spaces(client: TestClient[Any, Any]) -> None:
    token = await api_login(client, "eleve")
    content = os.urandom(300_000)
    for space in ("pedagogical", "personnel"):
        stored = await _put(client, token, space, "Maths/devoir 1.pdf", content)
        assert stored.status == 201, await stored.text()
        assert (await stored.json())["size"] == len(content)
        top = await (await client.get(f"/api/v1/spaces/{space}/folder")).json()
        assert top["entries"] == [{"name": "Maths", "folder": True}]
        inside = await client.get(f"/api/v1/spaces/{space}/folder", params={"path": "Maths"})
        (entry,) = (await inside.json())["entries"]
        assert (entry["name"], entry["size"]) == ("devoir 1.pdf", len(content))
        got = await client.get(FILE.format(space=space), params={"path": "Maths/devoir 1.pdf"})
        assert got.status == 200
        assert got.headers["Content-Length"] == str(len(content))
        assert await got.read() == content
        replaced = await _put(client, token, space, "Maths/devoir 1.pdf", b"v2")
        assert replaced.status == 201
        got = await client.get(FILE.format(space=space), params={"path": "Maths/devoir 1.pdf"})
        assert await got.read() == b"v2"
        gone = await client.delete(
            FILE.format(space=space), params={"path": "Maths"}, headers={"X-CSRF-Token": token}
        )
        assert gone.status == 200
        missing = await client.get(FILE.format(space=space), params={"path": "Maths/devoir 1.pdf"})
        assert missing.status == 404
    spaces = await (await client.get("/api/v1/spaces")).json()
    assert spaces["personnel"]["locked"] is False
    assert spaces["pedagogical"]["quota_bytes"] == 500_000_000
    for bad in ("../eleve2/x", "/", "a/\0"):
        refused = await _put(client, token, "pedagogical", bad, b"x")
        assert refused.status == 400


async def test_personnel_is_unreadable_on_disk_in_the_db_in_the_logs_and_by_the_referent(
    client: TestClient[Any, Any],
    core: Core,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    # As `preau run web` serves it (AppRunner(access_log=None)): URLs name files, so
    # no access log is kept; the test server would otherwise write one.
    monkeypatch.setattr(logging.getLogger("aiohttp.access"), "disabled", True)
    token = await api_login(client, "eleve")
    secret = CANARY_TEXT * 1000
    assert (await _put(client, token, "personnel", f"{CANARY_NAME}.txt", secret)).status == 201
    # The same strings in the pedagogical space ARE found: the search can see.
    visible = await _put(client, token, "pedagogical", "visible-9a7c.txt", b"visible-9a7c")
    assert visible.status == 201
    data_dir = core.config.site.data_dir
    found_visible = any(
        b"visible-9a7c" in p.read_bytes() for p in data_dir.rglob("*") if p.is_file()
    )
    assert found_visible
    for path in data_dir.rglob("*"):
        assert CANARY_NAME not in str(path)
        if path.is_file():
            raw = path.read_bytes()
            assert CANARY_TEXT not in raw
            assert CANARY_NAME.encode() not in raw
    dump = "\n".join(await core.executor.run(_dump, core.config.state_path))
    assert CANARY_NAME not in dump
    assert CANARY_TEXT.decode() not in dump
    assert PASSWORDS["eleve"] not in dump
    assert CANARY_NAME not in caplog.text
    assert CANARY_TEXT.decode() not in caplog.text
    # The referent: their own spaces, and every admin read of the API, show nothing.
    await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
    await api_login(client, "referent")
    listing = await (await client.get("/api/v1/spaces/personnel/folder")).json()
    assert listing["entries"] == []
    for op in [op for table in client.app[API_TABLES_KEY] for op in table.operations]:  # type: ignore[index]
        if op.method != "get" or "{" in op.path:
            continue
        response = await client.get("/api/v1" + op.path)
        body = await response.read()
        assert CANARY_NAME.encode() not in body, op.path
        assert CANARY_TEXT not in body, op.path
    escaped = await client.get(
        FILE.format(space="personnel"), params={"path": f"../{CANARY_NAME}.txt"}
    )
    assert escaped.status == 400


def _dump(path: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
async def small_quota_client(tmp_path: Path, aiohttp_client: ClientFactory) -> Any:
    config = make_config(
        tmp_path / "data",
        productions={"quotas": {"pupil": {"pedagogical_mb": 1, "personnel_mb": 1}}},
    )
    async with opened_core(config) as core:
        await seed_local_people(core)
        yield await aiohttp_client(create_app(core))


async def test_a_full_space_refuses_clearly_and_keeps_what_is_stored(
    small_quota_client: TestClient[Any, Any],
) -> None:
    client = small_quota_client
    token = await api_login(client, "eleve")
    for space in ("pedagogical", "personnel"):
        first = await _put(client, token, space, "a.bin", b"a" * 600_000)
        assert first.status == 201
        over = await _put(client, token, space, "b.bin", b"b" * 600_000)
        assert over.status == 413
        assert "Espace plein" in (await over.json())["error"]["message"]
        kept = await client.get(FILE.format(space=space), params={"path": "a.bin"})
        assert await kept.read() == b"a" * 600_000
        names = [
            e["name"]
            for e in (await (await client.get(f"/api/v1/spaces/{space}/folder")).json())["entries"]
        ]
        assert names == ["a.bin"]
    spaces = await (await client.get("/api/v1/spaces")).json()
    assert spaces["pedagogical"]["warning"] == 0  # 600 kB of 1 MB: under 80 %
    assert spaces["personnel"]["warning"] in (0, 80)  # padded size on disk


async def test_a_password_changed_in_the_directory_locks_until_the_old_one_or_the_code(
    client: TestClient[Any, Any], core: Core
) -> None:
    token = await api_login(client, "eleve")
    code = (await (await client.get("/api/v1/spaces")).json())["recovery_code"]
    assert len(code) == 35
    assert (await (await client.get("/api/v1/spaces")).json())["recovery_code"] == ""  # once
    assert (await _put(client, token, "personnel", "notes.txt", b"mes notes")).status == 201
    await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
    # The directory now has another password.
    person = await core.directory.person("eleve")
    assert person is not None
    await core.directory.add_local_person(person, "nouveau-mot-de-passe")
    token = await api_login(client, "eleve", "nouveau-mot-de-passe")
    assert (await (await client.get("/api/v1/spaces")).json())["personnel"]["locked"] is True
    locked = await client.get(FILE.format(space="personnel"), params={"path": "notes.txt"})
    assert locked.status == 423
    wrong = await client.post(
        "/api/v1/spaces/personnel/unlock",
        json={"password": "nouveau-mot-de-passe", "old_password": "pas-le-bon"},
        headers={"X-CSRF-Token": token},
    )
    assert wrong.status == 403
    opened = await client.post(
        "/api/v1/spaces/personnel/unlock",
        json={"password": "nouveau-mot-de-passe", "recovery_code": code},
        headers={"X-CSRF-Token": token},
    )
    assert opened.status == 200, await opened.text()
    got = await client.get(FILE.format(space="personnel"), params={"path": "notes.txt"})
    assert await got.read() == b"mes notes"
    # Next login with the new password opens PERSONNEL directly.
    await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
    await api_login(client, "eleve", "nouveau-mot-de-passe")
    assert (await (await client.get("/api/v1/spaces")).json())["personnel"]["locked"] is False


async def test_erasure_by_the_owner_and_remotely_destroys_the_key_first(
    client: TestClient[Any, Any], core: Core
) -> None:
    token = await api_login(client, "eleve")
    assert (await _put(client, token, "personnel", "a.txt", b"contenu")).status == 201
    refused = await client.post(
        "/api/v1/spaces/personnel/erase",
        json={"password": PASSWORD_OF_ELEVE, "confirm": "oui"},
        headers={"X-CSRF-Token": token},
    )
    assert refused.status == 422
    wrong = await client.post(
        "/api/v1/spaces/personnel/erase",
        json={"password": "pas-le-bon", "confirm": "EFFACER"},
        headers={"X-CSRF-Token": token},
    )
    assert wrong.status == 403
    erased = await client.post(
        "/api/v1/spaces/personnel/erase",
        json={"password": PASSWORD_OF_ELEVE, "confirm": "EFFACER"},
        headers={"X-CSRF-Token": token},
    )
    assert erased.status == 200
    assert await core.db.fetchall("SELECT * FROM personnel_keys") == []
    personnel_root = core.config.site.data_dir / "productions" / "personnel"
    assert not any(personnel_root.rglob("*"))
    assert (
        await client.get(FILE.format(space="personnel"), params={"path": "a.txt"})
    ).status == 423
    # The next login makes a new, empty PERSONNEL; the referent can erase it remotely.
    await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
    token = await api_login(client, "eleve")
    assert (await _put(client, token, "personnel", "b.txt", b"nouveau")).status == 201
    await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
    referent = await api_login(client, "referent")
    usage = await (await client.get("/api/v1/storage")).json()
    assert {(s["user"], s["space"]) for s in usage["spaces"]} >= {("eleve", "personnel")}
    assert "b.txt" not in str(usage)
    remote = await client.delete(
        "/api/v1/people/eleve/personnel", headers={"X-CSRF-Token": referent}
    )
    assert remote.status == 200
    assert await core.db.fetchall("SELECT * FROM personnel_keys WHERE user = 'eleve'") == []
    unknown = await client.delete(
        "/api/v1/people/nobody/personnel", headers={"X-CSRF-Token": referent}
    )
    assert unknown.status == 404
    entries = [(e["action"], e["outcome"]) for e in await core.audit.recent(30)]
    assert entries.count(("personnel.erase", "success")) == 2
    assert entries.count(("personnel.erase", "failure")) == 1  # the wrong password


PASSWORD_OF_ELEVE = PASSWORDS["eleve"]


async def test_all_my_work_as_one_zip(client: TestClient[Any, Any]) -> None:
    import zipfile

    token = await api_login(client, "eleve")
    big = os.urandom(2_500_000)
    assert (await _put(client, token, "pedagogical", "Maths/devoir.txt", b"x = 42")).status == 201
    assert (await _put(client, token, "personnel", "Carnet/grand.bin", big)).status == 201
    response = await client.get("/api/v1/spaces/export")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    assert sorted(archive.namelist()) == [
        "PERSONNEL/Carnet/grand.bin",
        "pedagogique/Maths/devoir.txt",
    ]
    assert archive.read("pedagogique/Maths/devoir.txt") == b"x = 42"
    assert archive.read("PERSONNEL/Carnet/grand.bin") == big
    assert archive.testzip() is None


async def test_rename_and_move_in_both_spaces(client: TestClient[Any, Any]) -> None:
    token = await api_login(client, "eleve")
    headers = {"X-CSRF-Token": token}
    for space in ("pedagogical", "personnel"):
        assert (await _put(client, token, space, "Brouillons/a.txt", b"texte")).status == 201
        assert (await _put(client, token, space, "Brouillons/b.txt", b"autre")).status == 201
        renamed = await client.post(
            f"/api/v1/spaces/{space}/move",
            json={"source": "Brouillons/a.txt", "target": "Brouillons/rédaction.txt"},
            headers=headers,
        )
        assert renamed.status == 200, await renamed.text()
        clash = await client.post(
            f"/api/v1/spaces/{space}/move",
            json={"source": "Brouillons/b.txt", "target": "Brouillons/rédaction.txt"},
            headers=headers,
        )
        assert clash.status == 422
        inside = await client.post(
            f"/api/v1/spaces/{space}/move",
            json={"source": "Brouillons", "target": "Brouillons/Sous"},
            headers=headers,
        )
        assert inside.status == 422
        moved = await client.post(
            f"/api/v1/spaces/{space}/move",
            json={"source": "Brouillons", "target": "Français/Rédactions"},
            headers=headers,
        )
        assert moved.status == 200
        got = await client.get(
            FILE.format(space=space), params={"path": "Français/Rédactions/rédaction.txt"}
        )
        assert await got.read() == b"texte"
        gone = await client.get(FILE.format(space=space), params={"path": "Brouillons/b.txt"})
        assert gone.status == 404
        top = await (await client.get(f"/api/v1/spaces/{space}/folder")).json()
        assert [e["name"] for e in top["entries"]] == ["Français"]
        missing = await client.post(
            f"/api/v1/spaces/{space}/move",
            json={"source": "Nulle-part", "target": "Ailleurs"},
            headers=headers,
        )
        assert missing.status == 404


async def test_previews_only_for_safe_types(client: TestClient[Any, Any]) -> None:
    token = await api_login(client, "eleve")
    png = bytes.fromhex("89504e470d0a1a0a") + b"\0" * 32
    for space in ("pedagogical", "personnel"):
        assert (await _put(client, token, space, "photo.png", png)).status == 201
        assert (await _put(client, token, space, "page.html", b"<script>x</script>")).status == 201
        page = await (await client.get("/fichiers", params={"espace": space})).text()
        assert "/fichiers/apercu?" in page
        shown = await client.get(
            "/fichiers/apercu", params={"espace": space, "chemin": "photo.png"}
        )
        assert shown.status == 200
        assert shown.headers["Content-Type"] == "image/png"
        assert shown.headers["Content-Disposition"] == "inline"
        assert "sandbox" in shown.headers["Content-Security-Policy"]
        assert await shown.read() == png
        refused = await client.get(
            "/fichiers/apercu", params={"espace": space, "chemin": "page.html"}
        )
        assert refused.status == 415


async def test_someone_who_left_takes_their_work_away_with_a_printed_code(
    client: TestClient[Any, Any], core: Core
) -> None:
    import re
    import zipfile

    token = await api_login(client, "eleve")
    assert (await _put(client, token, "pedagogical", "Maths/devoir.txt", b"x = 42")).status == 201
    assert (await _put(client, token, "personnel", "journal.txt", b"cher journal")).status == 201
    await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
    referent = await api_login(client, "referent")
    # Still in the directory: refused without a reason (#8.21 is for people who leave).
    refused = await client.post(
        "/api/v1/people/eleve/retrieval-code", headers={"X-CSRF-Token": referent}
    )
    assert refused.status == 409
    made = await client.post(
        "/api/v1/people/eleve/retrieval-code",
        json={"reason": "Part en cours d'année, pas encore sorti de l'annuaire"},
        headers={"X-CSRF-Token": referent},
    )
    assert made.status == 201
    audited = await core.db.fetchall(
        "SELECT outcome, detail FROM audit WHERE action = 'productions.retrieval_code'"
    )
    assert [tuple(r) for r in audited] == [
        ("refused", "still in the directory, no reason"),
        ("success", "Part en cours d'année, pas encore sorti de l'annuaire"),
    ]
    code = (await made.json())["code"]
    dump = "\n".join(str(tuple(r)) for r in await core.db.fetchall("SELECT * FROM retrieval_codes"))
    assert code.replace("-", "") not in dump  # only a hash is kept
    await client.delete("/api/v1/session", headers={"X-CSRF-Token": referent})

    async def retrieve(code_typed: str, password: str = "") -> Any:
        page = await (await client.get("/recuperer")).text()
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found is not None
        return await client.post(
            "/recuperer",
            data={"csrf_token": found.group(1), "code": code_typed, "password": password},
        )

    wrong = await retrieve("AAAAA-BBBBB-CCCCC-DDDDD")
    assert wrong.status == 403
    assert "Code inconnu" in await wrong.text()
    plain = await retrieve(code.lower())
    assert plain.status == 200
    archive = zipfile.ZipFile(io.BytesIO(await plain.read()))
    assert archive.namelist() == ["pedagogique/Maths/devoir.txt"]  # PERSONNEL needs the password
    full = await retrieve(code, PASSWORDS["eleve"])
    names = zipfile.ZipFile(io.BytesIO(await full.read())).namelist()
    assert sorted(names) == ["PERSONNEL/journal.txt", "pedagogique/Maths/devoir.txt"]
    # Issue #11, F4: a wrong PERSONNEL password is refused, audited as a failure, and
    # throttled after as many failures as the login; then even the right one waits.
    statuses = []
    for _ in range(12):
        guess = await retrieve(code, "devine-encore")
        statuses.append(guess.status)
        assert "PK" not in (await guess.read()).decode(errors="replace")[:2]
    assert statuses[0] == 403
    assert 429 in statuses, statuses
    assert (await retrieve(code, PASSWORDS["eleve"])).status == 429
    outcomes = await core.db.fetchall(
        "SELECT outcome FROM audit WHERE action = 'productions.retrieval' AND actor = 'eleve'"
    )
    assert [r["outcome"] for r in outcomes].count("failure") >= 5
    assert [r["outcome"] for r in outcomes].count("success") == 2
    # Without the page's token, a post from elsewhere is refused.
    forged = await client.post("/recuperer", data={"code": code})
    assert forged.status == 403


async def test_password_checks_of_a_session_go_through_the_login_throttle(
    client: TestClient[Any, Any], core: Core
) -> None:
    """A stolen session is no free password oracle (#7.43): erase and unlock are throttled."""
    token = await api_login(client, "eleve")
    statuses = []
    for _ in range(12):
        wrong = await client.post(
            "/api/v1/spaces/personnel/erase",
            json={"password": "devine-encore", "confirm": "EFFACER"},
            headers={"X-CSRF-Token": token},
        )
        statuses.append(wrong.status)
    assert statuses[0] == 403
    assert 429 in statuses, statuses
    # Even the right password waits now, and nothing was erased.
    right = await client.post(
        "/api/v1/spaces/personnel/erase",
        json={"password": PASSWORD_OF_ELEVE, "confirm": "EFFACER"},
        headers={"X-CSRF-Token": token},
    )
    assert right.status == 429
    assert await core.db.fetchall("SELECT * FROM personnel_keys") != []
    failures = await core.db.fetchall(
        "SELECT * FROM audit WHERE action = 'personnel.erase' AND outcome = 'failure'"
    )
    assert failures


async def test_the_files_page_reopens_personnel_with_the_old_password(
    client: TestClient[Any, Any], core: Core
) -> None:
    """#16 scope 7: the locked page has the fields it asks for, not only the API."""
    token = await api_login(client, "eleve")
    assert (await _put(client, token, "personnel", "journal.txt", b"cher journal")).status == 201
    await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
    person = await core.directory.person("eleve")
    assert person is not None
    await core.directory.add_local_person(person, "nouveau-mot-de-passe")
    await api_login(client, "eleve", "nouveau-mot-de-passe")
    page = await (await client.get("/fichiers", params={"espace": "personnel"})).text()
    assert 'id="unlock-form"' in page
    form_token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    form = {"csrf_token": form_token, "password": "nouveau-mot-de-passe"}
    wrong = await client.post("/fichiers/deverrouiller", data=form | {"old_password": "non"})
    assert "Ancien mot de passe ou code de secours erroné." in await wrong.text()
    assert 'id="unlock-form"' in await wrong.text()
    bad_current = await client.post(
        "/fichiers/deverrouiller",
        data=form | {"password": "faux", "old_password": PASSWORD_OF_ELEVE},
    )
    assert "Le mot de passe actuel est erroné." in await bad_current.text()
    opened = await client.post(
        "/fichiers/deverrouiller", data=form | {"old_password": PASSWORD_OF_ELEVE}
    )
    text = await opened.text()
    assert "Espace PERSONNEL rouvert" in text
    assert "journal.txt" in text


async def test_a_local_account_changes_its_password_and_keeps_personnel(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    """#16 scope 7: « Mon compte » changes a local password; PERSONNEL follows it."""
    config = make_config(
        tmp_path / "data", identity={"password_url": "https://ent.example.fr/motdepasse"}
    )
    async with opened_core(config) as core:
        await seed_local_people(core)
        client = await aiohttp_client(create_app(core))
        token = await api_login(client, "eleve")
        assert (await _put(client, token, "personnel", "secret.txt", b"a moi")).status == 201
        account = await (await client.get("/account")).text()
        assert 'id="password-form"' in account
        form = {"csrf_token": token, "current": PASSWORD_OF_ELEVE}
        for fields, said in (
            ({"new": "court", "again": "court"}, "au moins 8 caractères"),
            ({"new": "nouveau-secret-1", "again": "nouveau-secret-2"}, "pas identiques"),
            ({"current": "faux", "new": "nouveau-secret-1", "again": "nouveau-secret-1"},
             "actuel est erroné"),
        ):  # fmt: skip
            refused = await client.post("/compte/mot-de-passe", data=form | fields)
            assert refused.status == 400
            assert said in await refused.text()
        # A second session, opened elsewhere with the old password.
        elsewhere = await aiohttp_client(client.app)
        await api_login(elsewhere, "eleve")
        done = await client.post(
            "/compte/mot-de-passe",
            data=form | {"new": "nouveau-secret-1", "again": "nouveau-secret-1"},
        )
        assert "Mot de passe changé" in await done.text()
        assert (await elsewhere.get("/api/v1/me")).status == 401
        assert (await client.get("/api/v1/me")).status == 200
        await client.delete("/api/v1/session", headers={"X-CSRF-Token": token})
        await api_login(client, "eleve", "nouveau-secret-1")
        kept = await client.get(FILE.format(space="personnel"), params={"path": "secret.txt"})
        assert kept.status == 200
        assert await kept.read() == b"a moi"
        # A directory account is sent to the directory's page.
        await core.db.execute_write("DELETE FROM local_accounts WHERE person_id = 'eleve'")
        page = await (await client.get("/account")).text()
        assert 'id="password-form"' not in page
        assert 'href="https://ent.example.fr/motdepasse"' in page

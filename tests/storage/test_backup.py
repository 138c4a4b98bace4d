"""restic backs up the pedagogical spaces and never PERSONNEL; a file, a folder
or a whole person is restored; the weekly restore test catches a difference
(issue #5 scope 6; CARMO #4.15, #4.16, #7.15, #7.16, #8.17, #8.18)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from appliance.config import PreauConfig
from appliance.scheduler.jobs import builtin_jobs
from storage.backup import RESTIC, Backups
from storage.store import ProductionsStore
from tests.conftest import make_config, opened_core, run_preau, write_config

CANARY = b"cahier-secret-3f9a21"
PASSWORD = "mot-de-passe-eleve-1"


def _config(tmp_path: Path) -> PreauConfig:
    secret = tmp_path / "restic.pass"
    secret.write_text("mot de passe du dépôt\n")
    secret.chmod(0o600)
    return make_config(
        tmp_path / "data",
        productions={
            "backup": {
                "enabled": True,
                "repository": str(tmp_path / "repo"),
                "password_file": str(secret),
            }
        },
    )


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _restic(config: PreauConfig, *args: str) -> str:
    backup = config.productions.backup
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(config.site.data_dir),
        "RESTIC_REPOSITORY": backup.repository,
        "RESTIC_PASSWORD_FILE": str(backup.password_file),
    }
    return subprocess.run(
        [RESTIC, *args], capture_output=True, text=True, env=env, check=True
    ).stdout


async def test_backup_restore_and_the_weekly_test(tmp_path: Path) -> None:
    config = _config(tmp_path)
    async with opened_core(config) as core:
        store = ProductionsStore(core)
        await store.unlock_at_login("eleve", PASSWORD, "s")
        for path, body in (("Maths/devoir.txt", b"x = 42"), ("Maths/exos.txt", b"exercices")):
            await store.put("s", "eleve", "pupil", "pedagogical", path, _chunks(body))
        await store.put("s", "eleve", "pupil", "personnel", "journal.txt", _chunks(CANARY))
        backups = Backups(config.productions.backup, config.site.data_dir)
        snapshot = await core.executor.run(backups.back_up)
        assert snapshot.files == 2
        jobs = {job.id for job in builtin_jobs(core)}
    assert {"productions-backup", "productions-restore-test"} <= jobs
    # What the repository holds: the pedagogical files, nothing of PERSONNEL.
    listed = [json.loads(line) for line in _restic(config, "ls", "--json", "latest").splitlines()]
    paths = [entry.get("path", "") for entry in listed]
    assert any(p.endswith("/eleve/Maths/devoir.txt") for p in paths)
    assert not any("personnel" in p for p in paths)
    for path in paths:
        if path.endswith(".txt"):
            assert CANARY not in _restic(config, "dump", "latest", path).encode()
    # A deleted file, then a whole folder, come back through the CLI.
    config_path = write_config(config, tmp_path / "preau.toml")
    live = config.site.data_dir / "productions" / "pedagogical" / "eleve" / "Maths"
    (live / "devoir.txt").unlink()
    restored = run_preau("backup", "restore", "eleve", "Maths/devoir.txt", config_path=config_path)
    assert restored.returncode == 0, restored.stderr
    assert (live / "devoir.txt").read_bytes() == b"x = 42"
    (live / "exos.txt").write_bytes(b"abime")
    restored = run_preau("backup", "restore", "eleve", "Maths", config_path=config_path)
    assert restored.returncode == 0, restored.stderr
    assert (live / "exos.txt").read_bytes() == b"exercices"
    listing = run_preau("backup", "list", config_path=config_path)
    assert snapshot.id in listing.stdout
    # The weekly restore test compares hashes, and notices a silent difference.
    assert backups.verify_latest() == (2, 0)
    stat = (live / "devoir.txt").stat()
    (live / "devoir.txt").write_bytes(b"x = 43")
    os.utime(live / "devoir.txt", (stat.st_atime, stat.st_mtime))  # same date, other bytes
    assert backups.verify_latest() == (2, 1)
    missing = run_preau("backup", "restore", "eleve", "Nulle/part.txt", config_path=config_path)
    assert missing.returncode != 0
    assert "not in snapshot" in missing.stderr


async def test_spaces_of_people_gone_past_the_grace_period_are_erased(tmp_path: Path) -> None:
    from tests.appliance.web.conftest import PASSWORDS, seed_local_people

    config = make_config(tmp_path / "data")
    async with opened_core(config) as core:
        await seed_local_people(core)
        store = ProductionsStore(core)
        for person in ("eleve", "prof"):
            await store.unlock_at_login(person, PASSWORDS[person], person)
            for space in ("pedagogical", "personnel"):
                await store.put(person, person, "pupil", space, "a.txt", _chunks(b"travail"))
        today = dt.date.today()
        async with core.db.write() as tx:
            for person, days in (("eleve", 100), ("prof", 2)):
                await tx.execute(
                    "UPDATE people SET departed_at = ? WHERE id = ?",
                    ((today - dt.timedelta(days=days)).isoformat(), person),
                )
        erased = await store.erase_departed()
        assert erased == ["eleve"]  # gone 100 days ago; the teacher left two days ago
        users = {r["user"] for r in await core.db.fetchall("SELECT user FROM personnel_keys")}
        assert users == {"prof"}
        root = config.site.data_dir / "productions" / "pedagogical"
        assert not (root / "eleve").exists()
        assert (root / "prof" / "a.txt").exists()
        jobs = {job.id for job in builtin_jobs(core)}
        assert "productions-lifecycle" in jobs


async def test_the_referent_restores_from_the_dashboard(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    from appliance.web.app import create_app
    from tests.appliance.web.conftest import api_login, seed_local_people

    config = _config(tmp_path)
    async with opened_core(config) as core:
        await seed_local_people(core)
        store = ProductionsStore(core)
        await store.put("s", "eleve", "pupil", "pedagogical", "Maths/devoir.txt", _chunks(b"42"))
        backups = Backups(config.productions.backup, config.site.data_dir)
        await core.executor.run(backups.back_up)
        live = config.site.data_dir / "productions" / "pedagogical" / "eleve" / "Maths"
        (live / "devoir.txt").unlink()
        client = await aiohttp_client(create_app(core))
        token = await api_login(client, "referent")
        page = await (await client.get("/dashboard")).text()
        assert 'id="restore-form"' in page
        restored = await client.post(
            "/dashboard/restore",
            data={"csrf_token": token, "person": "eleve", "path": "Maths/devoir.txt"},
        )
        assert "1 fichier(s) restauré(s)." in await restored.text()
        assert (live / "devoir.txt").read_bytes() == b"42"
        missing = await client.post(
            "/dashboard/restore", data={"csrf_token": token, "person": "eleve", "path": "x.txt"}
        )
        assert "Restauration impossible" in await missing.text()
        actions = [e["action"] for e in await core.audit.recent(10)]
        assert actions.count("backup.restore") == 2

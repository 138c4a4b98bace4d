"""A dead box is replaced from its nightly backup (#14 scope 9, the seeds' "PRA").

Like EOLE Zéphir's saved configurations, but the centre's online servers
cannot read them: the backup is encrypted to the collectivité's offline key,
and re-encrypted to the new box only when the central team releases it.
The new box gets back the accounts cache, charters and their acceptances,
the app store with its files, classes, timetables and the config file, and
never a password hash, a session or a PERSONNEL key.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from appliance.agefile import AgeWriter, decrypt_stream, generate_identity, recipient_of
from appliance.config import PreauConfig
from appliance.core import Core
from appliance.features import KERNEL_REPLACEMENT, installed_features
from sync.intake import Intake
from sync.pra import CONFIG_KEPT, read_pra, replacement_folders, replacement_tables, restore
from sync.pra_archive import BackupContent, PraError, open_backup, write_backup
from sync.repository import CentralRepository
from sync.state import LinkState, write_link
from tests.appliance.web.conftest import client, login_as
from tests.conftest import (
    SCHOOL_UAI,
    PreauProcess,
    make_config,
    opened_core,
    run_preau,
    write_config,
)
from tests.sync.conftest import Centre, link_of, wait_for

__all__ = ["client"]

pytestmark = pytest.mark.timeout(300)

# What must never leave the box, even encrypted to the collectivité.
PASSWORD_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2VsZGVsYWJveA$SECRETHASHOFTHEREFERENT"
SESSION_HASH = "f" * 64
SEALED_KEY = "SEALED-PERSONNEL-KEY-OF-DURAND"
PACKAGE = b"PK\x03\x04 an in-house app of the school" * 100
PACKAGE_SHA = hashlib.sha256(PACKAGE).hexdigest()

# Tables compared between the dead box and its replacement.
COMPARED = (
    "people", "groups", "memberships", "timetable", "closed_days", "class_subgroups",
    "portal_charters", "portal_charter", "store_packages", "store_assignments",
    "assignments", "filter_local_allow",
)  # fmt: skip


def seed_school(db_path: Path) -> None:
    """Give a box a school's life: people, classes, charters, apps, and its secrets."""
    now = time.time()
    conn = sqlite3.connect(db_path)
    conn.executescript(  # the tests' own constants, no input
        f"""
        PRAGMA foreign_keys = ON;
        INSERT INTO people (id, source, display_name, given_name, surname, role, school_uai,
            class_name, level, updated_at) VALUES
            ('eleve.martin', 'local', 'Camille Martin', 'Camille', 'Martin', 'pupil',
             '{SCHOOL_UAI}', '6A', '6e', '2026-09-01'),
            ('prof.durand', 'local', 'Sophie Durand', 'Sophie', 'Durand', 'teacher',
             '{SCHOOL_UAI}', '', '', '2026-09-01');
        INSERT INTO local_accounts VALUES ('prof.durand', '{PASSWORD_HASH}', '2026-09-01');
        INSERT INTO sessions VALUES ('{SESSION_HASH}', 'prof.durand', 'teacher', 'csrf', 'web',
            {now}, {now}, {now + 3600}, 1800, NULL, '');
        INSERT INTO personnel_keys (user, recipient, by_password, created_at, sealed_at)
            VALUES ('prof.durand', 'age1x', '{SEALED_KEY}', {now}, {now});
        INSERT INTO groups VALUES ('6A', '6A', 'class', '{SCHOOL_UAI}', 'local');
        INSERT INTO memberships VALUES ('6A', 'eleve.martin');
        INSERT INTO timetable (person_id, class_name, starts_at, ends_at, room, source)
            VALUES ('prof.durand', '6A', {now}, {now + 3300}, 'B12', 'ics');
        INSERT INTO closed_days VALUES ('2026-12-21', 'Vacances de Noël', 'referent',
            '2026-11-30');
        INSERT INTO class_subgroups (class_name, name, created_by, created_at)
            VALUES ('6A', 'Groupe 1', 'prof.durand', {now});
        INSERT INTO portal_charters VALUES ('2026-09', 'Charte du collège : respect.',
            'referent', {now});
        INSERT INTO portal_charter VALUES ('eleve.martin', '2026-09', '02:00:00:00:00:01',
            '2026-09-02T08:00:00');
        INSERT INTO store_packages (platform, name, package_id, version_name, filename, size,
            sha256, mdm_token, uploaded_by, uploaded_at) VALUES ('android', 'Calcul mental',
            'fr.college.calcul', '1.0', 'calcul.apk', {len(PACKAGE)}, '{PACKAGE_SHA}', 'mdm1',
            'referent', {now});
        INSERT INTO store_assignments VALUES (1, 'class', '6A');
        INSERT INTO assignments (class_name, title, created_by, created_at)
            VALUES ('6A', 'Exposé sur les volcans', 'prof.durand', {now});
        INSERT INTO filter_local_allow VALUES ('lumni.fr', 'pupils', 'referent', '2026-09-01');
        """  # noqa: S608
    )
    conn.commit()
    conn.close()
    store = db_path.parent / "store"
    store.mkdir(exist_ok=True)
    (store / PACKAGE_SHA).write_bytes(PACKAGE)


def table_rows(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Return the compared tables' rows, in a stable order."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        queries = {t: f"SELECT * FROM {t}" for t in COMPARED}  # noqa: S608 - our table names
        return {t: sorted(conn.execute(query).fetchall()) for t, query in queries.items()}
    finally:
        conn.close()


def secrets_in(db_path: Path) -> list[int]:
    """Return how many password hashes, sessions and PERSONNEL keys a box holds."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = ("local_accounts", "sessions", "personnel_keys")
        queries = [f"SELECT COUNT(*) FROM {t}" for t in tables]  # noqa: S608 - our table names
        return [conn.execute(query).fetchone()[0] for query in queries]
    finally:
        conn.close()


def test_every_declared_table_has_a_primary_key_and_no_secret_is_declared() -> None:
    tables = list(KERNEL_REPLACEMENT.tables)
    for feature in installed_features():
        if feature.replacement is not None:
            tables.extend(feature.replacement.tables)
    assert len(tables) == len(set(tables))
    conn = sqlite3.connect(":memory:")
    from appliance.state.db import upgrade_schema

    upgrade_schema(conn)
    infos = {t: conn.execute(f"PRAGMA table_info({t})").fetchall() for t in tables}
    conn.close()
    for table, info in infos.items():
        assert info, f"{table} is declared but does not exist"
        assert any(row[5] for row in info), f"{table} has no primary key: a restore would duplicate"
    secret = {"local_accounts", "sessions", "personnel_keys", "personnel_escrow",
              "retrieval_codes", "portal_vouchers", "known_devices", "portal_resume",
              "sync_link", "audit", "second_factors", "second_factor_recovery",
              "api_tokens", "central_outbox"}  # fmt: skip
    assert not secret & set(tables)


async def _archive(config: PreauConfig, recipient: str, out: Path) -> dict[str, Any]:
    async with opened_core(config) as core:
        content = BackupContent(
            uai=SCHOOL_UAI, box_id="box-1", created_at=time.time(),
            config_path=core.config_path, folders=replacement_folders(core),
        )  # fmt: skip
        with out.open("wb") as sink:
            return write_backup(
                config.state_path, replacement_tables(core), content, recipient, sink
            )


async def test_an_archive_holds_the_school_and_none_of_its_secrets(tmp_path: Path) -> None:
    config = make_config(tmp_path / "old")
    async with opened_core(config):
        pass
    seed_school(config.state_path)
    identity = generate_identity()
    manifest = await _archive(config, recipient_of(identity), tmp_path / "backup.age")
    assert manifest["tables"]["people"] == 2
    assert manifest["tables"]["portal_charter"] == 1
    assert manifest["files"] == {f"appstore/{PACKAGE_SHA}": PACKAGE_SHA}
    encrypted = (tmp_path / "backup.age").read_bytes()
    assert b"Camille" not in encrypted  # encrypted, not merely packed
    with (tmp_path / "backup.age").open("rb") as source:
        plain = decrypt_stream(identity, source)
    text = b""
    with tarfile.open(fileobj=io.BytesIO(plain), mode="r:gz") as tar:
        names = tar.getnames()
        for member in tar:
            handle = tar.extractfile(member)
            text += handle.read() if handle else b""
    assert names[-1] == "manifest.json"
    assert "state.json" in names
    assert b"Camille Martin" in text
    assert b"Charte du coll" in text.replace(b"\\u00e8", b"\xc3\xa8")
    for secret in (PASSWORD_HASH, SESSION_HASH, SEALED_KEY):
        assert secret.encode() not in text


async def test_a_wrong_key_a_tampered_or_hostile_archive_changes_nothing(tmp_path: Path) -> None:
    old = make_config(tmp_path / "old")
    async with opened_core(old):
        pass
    seed_school(old.state_path)
    identity = generate_identity()
    good = tmp_path / "backup.age"
    await _archive(old, recipient_of(identity), good)
    work = tmp_path / "work"
    with pytest.raises(PraError, match="illisible"):
        open_backup(generate_identity(), good, work)  # not this box's key
    data = bytearray(good.read_bytes())
    data[-100] ^= 1
    tampered = tmp_path / "tampered.age"
    tampered.write_bytes(bytes(data))
    with pytest.raises(PraError, match="illisible"):
        open_backup(identity, tampered, work)
    for name in ("../../etc/cron.d/x", "files/appstore/../../x", "files/appstore/.hidden"):
        hostile = tmp_path / "hostile.age"
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"bad"))
        with hostile.open("wb") as sink:
            writer = AgeWriter(recipient_of(identity), sink)
            writer.write(raw.getvalue())
            writer.close()
        with pytest.raises(PraError, match="refusée"):
            open_backup(identity, hostile, work)
    assert not (tmp_path / "etc").exists()
    assert not (tmp_path / "x").exists()


async def test_restore_adds_rows_keeps_the_new_box_s_own_and_refuses_a_newer_schema(
    tmp_path: Path,
) -> None:
    old = make_config(tmp_path / "old")
    async with opened_core(old):
        pass
    seed_school(old.state_path)
    new = make_config(tmp_path / "new")
    async with opened_core(new) as core:
        identity = await core.executor.run(_identity_of, core)
        await _archive(old, recipient_of(identity), tmp_path / "backup.age")
        # The new box's referent, made at its first run, stays.
        async with core.db.write() as tx:
            await tx.execute(
                "INSERT INTO people (id, source, display_name, role, school_uai, updated_at)"
                " VALUES ('nouveau.referent', 'local', 'Jo D.', 'referent', ?, '2026-12-01')",
                (SCHOOL_UAI,),
            )
            await tx.execute(
                "INSERT INTO local_accounts VALUES ('nouveau.referent', 'h', '2026-12-01')"
            )
        summary = await restore(core, tmp_path / "backup.age", time.time())
        assert summary["tables"]["people"] == 2
        assert summary["files"] == 1
        again = await restore(core, tmp_path / "backup.age", time.time())  # idempotent
        assert again["rows"] == summary["rows"]
    old_rows, new_rows = table_rows(old.state_path), table_rows(new.state_path)
    ids = [row[0] for row in new_rows["people"]]
    assert ids == ["eleve.martin", "nouveau.referent", "prof.durand"]
    new_rows["people"] = [r for r in new_rows["people"] if r[0] != "nouveau.referent"]
    assert new_rows == old_rows
    assert secrets_in(new.state_path) == [1, 0, 0]  # only the new referent's own account
    assert (tmp_path / "new" / "store" / PACKAGE_SHA).read_bytes() == PACKAGE
    # A backup from a newer Préau is refused before anything is written.
    conn = sqlite3.connect(old.state_path)
    conn.execute("PRAGMA user_version = 9999")
    conn.commit()
    conn.close()
    newer = make_config(tmp_path / "newer")
    async with opened_core(newer) as core:
        identity = await core.executor.run(_identity_of, core)
        content = BackupContent(SCHOOL_UAI, "box-1", time.time(), None, {})
        with (tmp_path / "newer.age").open("wb") as sink:
            write_backup(
                old.state_path, replacement_tables(core), content, recipient_of(identity), sink
            )
        with pytest.raises(PraError, match="plus récente"):
            await restore(core, tmp_path / "newer.age", time.time())
    assert table_rows(newer.state_path)["people"] == []


def _identity_of(core: Core) -> str:
    from sync.link import SyncPaths
    from sync.pra import _restore_identity

    return _restore_identity(SyncPaths.of(core).restore_key)


def pra_row(config: PreauConfig) -> dict[str, Any]:
    """Read a running box's replacement state as another process would."""
    conn = sqlite3.connect(f"file:{config.state_path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM sync_pra WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        row = None
    finally:
        conn.close()
    return dict(row) if row else {}


def test_kill_a_box_s_disk_enrol_a_fresh_one_restore_and_compare(
    centre: Centre, tmp_path: Path, preau_factory: Callable[..., PreauProcess]
) -> None:
    offline_key = tmp_path / "pra.age"
    centre.cli("pra-key", str(offline_key))
    data = tmp_path / "box"
    old = make_config(
        data,
        site={"name": "Collège Jules Ferry"},
        sync={"poll_minutes": 0.05, "report_minutes": 60},
        filter={"enabled": False},
    )
    old_path = write_config(old, tmp_path / "box.toml")
    enrolled = run_preau("sync", "enrol", centre.token(SCHOOL_UAI), config_path=old_path)
    assert enrolled.returncode == 0, enrolled.stderr
    old_box = enrolled.stdout.split()[-1]
    seed_school(old.state_path)
    box = preau_factory(old, name="box")
    wait_for(lambda: bool(link_of(old).pra_recipient), box)  # read from the signed fleet file
    intake = Intake(CentralRepository(centre.central))
    wait_for(lambda: bool(intake.arrivals(old_box)), box)
    box.stop()
    # The fleet's view names what this school's setup does not meet (no HTTPS here).
    fleet = {row["box"]: row for row in json.loads(centre.cli("fleet"))}
    assert "#7.43" in fleet[old_box]["carmo_unmet"]
    assert "#8.1" not in fleet[old_box]["carmo_unmet"]
    sent = run_preau("sync", "backup", config_path=old_path)
    assert sent.returncode == 0, sent.stderr
    old_rows, old_text = table_rows(old.state_path), old_path.read_text()
    [stored] = intake.backups(SCHOOL_UAI)
    archive = (centre.central / "intake" / "pra" / SCHOOL_UAI / stored["name"]).read_bytes()
    assert b"Camille" not in archive
    assert b"Durand" not in archive
    plain = decrypt_stream(offline_key.read_text().strip(), io.BytesIO(archive))
    for secret in (PASSWORD_HASH, SESSION_HASH, SEALED_KEY):
        assert secret.encode() not in plain

    # The disk dies. A fresh box, same layout, default settings, a new token.
    import shutil

    shutil.rmtree(data)
    new = old.model_copy(update={"site": old.site.model_copy(update={"name": "Préau"})})
    new_path = write_config(new, tmp_path / "box.toml")
    assert "Jules Ferry" not in new_path.read_text()
    enrolled = run_preau("sync", "enrol", centre.token(SCHOOL_UAI), config_path=new_path)
    assert enrolled.returncode == 0, enrolled.stderr
    new_box = enrolled.stdout.split()[-1]
    assert new_box != old_box
    # Nothing to release before the box asks; then the central team releases.
    refused = centre.cli("pra-release", new_box, "--key", str(offline_key), check=False)
    assert "pas demandé" in refused
    asked = run_preau("sync", "restore", config_path=new_path)
    assert asked.returncode == 0, asked.stderr
    assert f"pra-release {new_box}" in asked.stdout
    released = centre.cli("pra-release", new_box, "--key", str(offline_key))
    assert stored["name"] in released
    box = preau_factory(new, name="box")
    wait_for(lambda: pra_row(new).get("restored_at", 0) > 0, box)
    outcome = json.loads(pra_row(new)["restore_values"])
    assert outcome["files"] == 1, pra_row(new)
    # The box restarted on the restored file (same process, its services again).
    wait_for(lambda: box.output().count("Préau running") >= 2, box)
    box.stop()
    assert table_rows(new.state_path) == old_rows
    assert secrets_in(new.state_path) == [0, 0, 0]
    assert (data / "store" / PACKAGE_SHA).read_bytes() == PACKAGE
    assert new_path.read_text() == old_text  # the referent's settings came back
    conn = sqlite3.connect(new.state_path)
    audit = conn.execute("SELECT outcome FROM audit WHERE action = 'sync.pra.restore'").fetchall()
    conn.close()
    assert audit == [("success",)]


async def test_the_referent_sees_the_backup_and_asks_from_the_page_or_the_api(
    client: TestClient[Any, Any], core: Core
) -> None:
    # An enrolled box whose centre is down (nothing listens on the discard port).
    link = LinkState(box_id=f"{SCHOOL_UAI}-1a2b3c4d", uai=SCHOOL_UAI, intake="http://127.0.0.1:9")
    link.pra_recipient = recipient_of(generate_identity())
    await write_link(core.db, link)
    async with core.db.write() as tx:
        await tx.execute(
            "INSERT INTO sync_pra (id, backup_at, backup_bytes, restored_at, restore_outcome,"
            " restore_values) VALUES (1, ?, 5400000, 1, ?, ?)",
            (time.time(), CONFIG_KEPT,
             json.dumps({"rows": 42, "files": 1, "reason": "site.data_dir", "path": "x.toml"})),
        )  # fmt: skip
    token = await login_as(client, "prof")
    refused = await client.post("/api/v1/sync/replacement/request", headers={"X-CSRF-Token": token})
    assert refused.status == 403
    token = await login_as(client, "referent")
    page = (await (await client.get("/synchro")).text()).replace("&#39;", "'")
    assert "Remplacement du boîtier" in page
    assert "5,4 Mo" in page  # a size in French, not a byte count
    assert "publiée par le centre" in page
    assert "42 lignes et 1 fichiers" in page
    shown = await (await client.get("/api/v1/sync/replacement")).json()
    assert shown["backup_bytes"] == 5400000
    assert shown["centre_key_published"] is True
    # The centre is unreachable: said in French, nothing recorded as asked.
    answer = await client.post("/api/v1/sync/replacement/request", headers={"X-CSRF-Token": token})
    assert answer.status == 502
    assert "centre injoignable" in (await answer.json())["error"]["message"]
    form = await client.post("/synchro/restauration", data={"csrf_token": token})
    assert "centre injoignable" in await form.text()
    assert (await read_pra(core)).restore_requested_at == 0


async def test_an_old_box_s_config_naming_another_data_folder_is_kept_aside(
    tmp_path: Path,
) -> None:
    old = make_config(tmp_path / "old", site={"name": "Collège Jules Ferry"})
    old_path = write_config(old, tmp_path / "old.toml")
    async with opened_core(old):
        pass
    new = make_config(tmp_path / "new")
    new_path = write_config(new, tmp_path / "new.toml")
    core = Core(new, new_path)
    await core.async_open()
    try:
        identity = await core.executor.run(_identity_of, core)
        content = BackupContent(SCHOOL_UAI, "box-1", time.time(), old_path, {})
        with (tmp_path / "backup.age").open("wb") as sink:
            write_backup(
                old.state_path, replacement_tables(core), content, recipient_of(identity), sink
            )
        await restore(core, tmp_path / "backup.age", time.time())
        state = await read_pra(core)
    finally:
        await core.async_close()
    assert state.restore_outcome == CONFIG_KEPT
    assert state.restore_values is not None
    assert "site.data_dir" in state.restore_values["reason"]
    assert "Jules Ferry" not in new_path.read_text()  # this box's file is untouched
    assert (tmp_path / "new.restored.toml").read_text() == old_path.read_text()

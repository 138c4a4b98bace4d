"""State DB: WAL, durable writes, numbered migrations from every older schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from appliance.executor import BlockingExecutor
from appliance.state.db import StateDB, StateError, migrations, schema_version, upgrade_schema

# One representative row per table, inserted at the schema version that created the table.
_SAMPLES: dict[int, list[str]] = {
    1: [
        "INSERT INTO people (id, source, display_name, role, school_uai, updated_at)"
        " VALUES ('p1', 'local', 'Jo', 'pupil', '0750001A', '2026-01-01')",
        "INSERT INTO audit (at, actor, source, action, outcome)"
        " VALUES ('2026-01-01', 'p1', '127.0.0.1', 'login', 'success')",
    ],
    2: [
        "INSERT INTO closed_days (day, reason, created_by, created_at)"
        " VALUES ('2026-05-15', 'pont', 'ref', '2026-01-01')",
    ],
}


@pytest.fixture
async def executor() -> BlockingExecutor:
    pool = BlockingExecutor()
    yield pool  # type: ignore[misc]
    pool.shutdown()


async def test_open_sets_wal_and_full_sync(tmp_path: Path, executor: BlockingExecutor) -> None:
    db = await StateDB.open(tmp_path / "state.db", executor)
    try:
        assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
        assert await db.version() == schema_version()
        async with db.write() as tx:
            row = await tx.fetchone("PRAGMA synchronous")
            assert row is not None
            assert row[0] == 2  # FULL
    finally:
        await db.close()


def test_migrations_are_numbered_from_one() -> None:
    numbers = [number for number, _, _ in migrations()]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) >= 2


@pytest.mark.parametrize("start", range(schema_version()))
async def test_upgrade_from_every_older_schema_keeps_data(
    tmp_path: Path, executor: BlockingExecutor, start: int
) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    upgrade_schema(conn, target=start)
    for version in range(1, start + 1):
        for statement in _SAMPLES.get(version, []):
            conn.execute(statement)
    conn.close()
    db = await StateDB.open(path, executor)
    try:
        assert await db.version() == schema_version()
        for version in range(1, start + 1):
            if version == 1:
                assert await db.fetchone("SELECT * FROM people WHERE id = 'p1'") is not None
            if version == 2:
                assert await db.fetchone("SELECT * FROM closed_days") is not None
        check = await db.fetchone("PRAGMA integrity_check")
        assert check is not None
        assert check[0] == "ok"
    finally:
        await db.close()


async def test_newer_schema_is_refused(tmp_path: Path, executor: BlockingExecutor) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema_version() + 1}")
    conn.close()
    with pytest.raises(StateError, match="newer than this Préau"):
        await StateDB.open(path, executor)


async def test_failed_transaction_rolls_back(tmp_path: Path, executor: BlockingExecutor) -> None:
    db = await StateDB.open(tmp_path / "state.db", executor)
    try:

        async def failing_write() -> None:
            async with db.write() as tx:
                await tx.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await failing_write()
        assert await db.fetchone("SELECT * FROM meta") is None
    finally:
        await db.close()


async def test_unwritable_data_dir_is_a_clear_error(
    tmp_path: Path, executor: BlockingExecutor
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StateError, match="cannot create the data directory"):
        await StateDB.open(blocker / "sub" / "state.db", executor)


async def test_corrupt_file_is_a_clear_error(tmp_path: Path, executor: BlockingExecutor) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match=r"state\.db"):
        await StateDB.open(path, executor)

"""State DB: WAL, durable writes, numbered migrations from every older schema."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from appliance.executor import BlockingExecutor
from appliance.state.db import StateDB, StateError, migrations, schema_version, upgrade_schema

# Values a CHECK constraint asks for; every other column gets a value made from its name.
_CHOSEN: dict[tuple[str, str], object] = {
    ("people", "source"): "local",
    ("people", "role"): "pupil",
    ("groups", "kind"): "class",
    ("groups", "source"): "local",
    ("role_grants", "role"): "teacher",
    ("filter_overrides", "target_kind"): "class",
    ("filter_overrides", "action"): "block_all",
    ("filter_unblock_requests", "status"): "open",
    ("storage_usage", "space"): "pedagogical",
    ("personnel_escrow", "id"): 1,
    ("teaching", "source"): "ldap",
    ("timetable", "source"): "ics",
    ("imported_people", "source"): "aaf",
    ("sync_link", "id"): 1,
    ("sync_pra", "id"): 1,
    ("first_run", "id"): 1,
}


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return {name for (name,) in rows}


def _sample(conn: sqlite3.Connection, table: str) -> dict[str, object]:
    """Return one row for ``table`` with every column set (by its declared type)."""
    row: dict[str, object] = {}
    for _, name, declared, _, _, _ in conn.execute(f"PRAGMA table_info({table})"):
        kind = str(declared).upper()
        if (table, name) in _CHOSEN:
            row[name] = _CHOSEN[(table, name)]
        elif "INT" in kind:
            row[name] = 7
        elif any(word in kind for word in ("REAL", "FLOA", "DOUB")):
            row[name] = 2.5
        elif "BLOB" in kind:
            row[name] = b"\x01\x02"
        else:
            row[name] = f"{table}.{name}"
    return row


def _build_old_schema(path: Path, start: int) -> dict[str, dict[str, object]]:
    """Create a database at schema ``start``, a sample row in each table as it appears."""
    conn = sqlite3.connect(path, isolation_level=None)
    samples: dict[str, dict[str, object]] = {}
    try:
        for version in range(1, start + 1):
            before = _tables(conn)
            upgrade_schema(conn, target=version)
            for table in sorted(_tables(conn) - before):
                row = _sample(conn, table)
                marks = ", ".join("?" * len(row))
                columns = ", ".join(row)  # names read from sqlite_master: not user input
                insert = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
                conn.execute(insert, list(row.values()))
                samples[table] = row
    finally:
        conn.close()
    return samples


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
    """Every table of every older schema keeps its row, every value, through the upgrade."""
    path = tmp_path / "state.db"
    samples = _build_old_schema(path, start)
    if start:
        assert samples, "the old schema had tables, so it had sample rows"
    db = await StateDB.open(path, executor)
    try:
        assert await db.version() == schema_version()
        for table, row in samples.items():
            found = await db.fetchall(f"SELECT {', '.join(row)} FROM {table}")  # noqa: S608
            assert [tuple(r) for r in found] == [tuple(row.values())], table
        check = await db.fetchone("PRAGMA integrity_check")
        assert check is not None
        assert check[0] == "ok"
    finally:
        await db.close()


def _prepare_in_a_process(path: str, start: Any) -> None:
    """Wait for the others, then open the state DB as a service's process does."""
    from appliance.state.db import _prepare

    start.wait()
    _prepare(Path(path))


def test_services_starting_together_on_a_fresh_db_migrate_it_once(tmp_path: Path) -> None:
    # A new box starts its seven units at once on no database (the package's
    # boot test found two of them applying the same migration).
    context = multiprocessing.get_context("spawn")
    for round_ in range(3):
        path = tmp_path / f"state{round_}.db"
        start = context.Barrier(7)
        processes = [
            context.Process(target=_prepare_in_a_process, args=(str(path), start)) for _ in range(7)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
        assert [process.exitcode for process in processes] == [0] * 7
        with contextlib.closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()


def test_every_table_of_the_schema_gets_a_sample(tmp_path: Path) -> None:
    """The samples cover every table every migration creates, from every folder."""
    samples = _build_old_schema(tmp_path / "state.db", schema_version())
    conn = sqlite3.connect(tmp_path / "state.db")
    try:
        assert set(samples) == _tables(conn)
        assert {"network_clients", "portal_sessions", "cache_traffic"} <= set(samples)
    finally:
        conn.close()


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


async def test_writer_cancelled_during_begin_leaves_no_transaction_open(
    tmp_path: Path, executor: BlockingExecutor
) -> None:
    """A job cancelled at shutdown (APScheduler cancels its tasks) never wedges the writer."""
    db = await StateDB.open(tmp_path / "state.db", executor)
    try:
        for _ in range(5):
            # Cancelled while BEGIN runs on the writer's thread: it still runs there.
            task = asyncio.create_task(
                db.execute_write("INSERT INTO meta (key, value) VALUES ('lost', 'x')")
            )
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The next writer (the shutdown's own write) goes through.
            await db.execute_write("INSERT OR REPLACE INTO meta (key, value) VALUES ('next', 'y')")
        assert await db.fetchone("SELECT * FROM meta WHERE key = 'lost'") is None
        assert await db.fetchone("SELECT value FROM meta WHERE key = 'next'") is not None
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

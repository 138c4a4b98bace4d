"""The SQLite state database every service shares.

Design:
- WAL mode, so readers never block the writer and a crash never tears a page.
- One writer path: every write goes through :meth:`StateDB.write`, which holds
  an asyncio lock and a ``BEGIN IMMEDIATE`` transaction on the single writer
  connection; in split mode SQLite's own lock plus ``busy_timeout`` serialise
  writers of different processes.
- ``synchronous=FULL`` on the writer: a write is acknowledged to a person only
  after it is on disk (reliability goal 1).
- Reads use a second connection, so they never see a half-done transaction.
- Schema changes are numbered SQL files applied in order, recorded in
  ``PRAGMA user_version``; a database newer than the code is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Final

import aiosqlite

from appliance.executor import BlockingExecutor
from appliance.features import Feature, installed_features

_LOGGER = logging.getLogger(__name__)

BUSY_TIMEOUT_MS: Final = 10_000
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StateError(Exception):
    """The state database cannot be opened or upgraded."""


def migration_packages(features: Sequence[Feature] | None = None) -> tuple[str, ...]:
    """Return the packages whose ``migrations`` folder holds part of the schema."""
    chosen = installed_features() if features is None else features
    packages = ["appliance.state"]
    packages += [f.migrations_package for f in chosen if f.migrations_package is not None]
    return tuple(packages)


def migrations(packages: Sequence[str] | None = None) -> list[tuple[int, str, str]]:
    """Return the numbered migrations of the kernel and the features, in order.

    One sequence of numbers runs across every folder: a feature adds its
    next migration in its own folder with the next free number, so a database
    records one version whatever set of features wrote it.
    """
    found: list[tuple[int, str, str]] = []
    for package in migration_packages() if packages is None else packages:
        folder = resources.files(package).joinpath("migrations")
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            match = _MIGRATION_NAME.match(entry.name)
            if match:
                text = entry.read_text(encoding="utf-8")
                found.append((int(match.group(1)), entry.name, text))
    found.sort()
    numbers = [number for number, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise StateError(f"migrations are not numbered 1..n: {numbers}")
    return found


def schema_version() -> int:
    """Return the schema version this code expects."""
    return len(migrations())


def upgrade_schema(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Apply the missing migrations up to ``target``; return the resulting version."""
    available = migrations()
    target = len(available) if target is None else target
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if current > len(available):
        raise StateError(
            f"the state database has schema {current}, newer than this Préau ({len(available)}); "
            "install the newer version or restore a backup"
        )
    for number, name, sql in available:
        if current < number <= target:
            _LOGGER.info("Applying state migration %s", name)
            # executescript commits first; wrap the migration and the version bump
            # in one transaction so a crash leaves the old schema intact.
            conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
            current = number
    return current


def _prepare(path: Path) -> None:
    """Switch the file to WAL and apply migrations (blocking: run in the executor).

    Every service's process does this when it starts, and on a new box all of
    them start at once: one at a time, under an exclusive lock on a file beside
    the database, each reads the schema version only once it holds the lock,
    so a migration is applied once (SQLite's own lock is taken too late:
    ``executescript`` commits before it begins).
    """
    with path.with_name(path.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StateError(f"cannot switch the state database to WAL mode (got {mode})")
            upgrade_schema(conn)
        finally:
            conn.close()


class StateDB:
    """The shared state store: one writer path, concurrent readers."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        """Wrap two open connections; use :meth:`open`."""
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        # Called after a commit that recorded changes (the change feed's wake-up).
        self.on_change: Callable[[], None] | None = None

    @classmethod
    async def open(cls, path: Path, executor: BlockingExecutor) -> StateDB:
        """Open (creating and upgrading if needed) the database at ``path``."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StateError(f"{path.parent}: cannot create the data directory: {err}") from err
        writer: aiosqlite.Connection | None = None
        reader: aiosqlite.Connection | None = None
        try:
            # Migrations run on a plain connection first, in the bounded executor.
            await executor.run(_prepare, path)
            writer = await aiosqlite.connect(path, isolation_level=None)
            writer.row_factory = sqlite3.Row
            for pragma in (
                f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
                "PRAGMA foreign_keys = ON",
                "PRAGMA synchronous = FULL",
            ):
                await writer.execute(pragma)
            reader = await aiosqlite.connect(path, isolation_level=None)
            reader.row_factory = sqlite3.Row
            await reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await reader.execute("PRAGMA query_only = ON")
        except BaseException as err:
            # Nothing half-open is left behind (Python 3.13 warns of unclosed connections).
            for opened in (reader, writer):
                if opened is not None:
                    with contextlib.suppress(Exception):
                        await opened.close()
            if isinstance(err, sqlite3.DatabaseError):
                raise StateError(f"{path}: {err}") from err
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        """Close both connections."""
        await self._reader.close()
        await self._writer.close()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query and return all rows."""
        cursor = await self._reader.execute(sql, params)
        rows = await cursor.fetchall()
        await cursor.close()
        return list(rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Run a read query and return its first row, if any."""
        cursor = await self._reader.execute(sql, params)
        row = await cursor.fetchone()
        await cursor.close()
        return row

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Transaction]:
        """Hold the one write path for a durable transaction."""
        async with self._write_lock:
            await self._control("BEGIN IMMEDIATE", undo="ROLLBACK")
            tx = Transaction(self._writer)
            try:
                yield tx
            except BaseException:
                await self._rollback()
                raise
            try:
                await self._control("COMMIT")
            except sqlite3.Error:
                await self._rollback()
                raise
        if tx.notified and self.on_change is not None:
            self.on_change()

    async def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already (a full disk ends it)."""
        if self._writer.in_transaction:
            # The error that brought us here is the one to report, not this one.
            with contextlib.suppress(sqlite3.Error):
                await self._control("ROLLBACK")

    async def _control(self, sql: str, undo: str | None = None) -> None:
        """Run a transaction statement to its end, even if the caller is cancelled.

        The statement runs on the writer's thread whatever happens to the
        awaiting task: a job cancelled at shutdown during ``BEGIN`` would
        otherwise leave the transaction open, and every later writer would
        fail with "cannot start a transaction within a transaction".
        """
        step = asyncio.ensure_future(self._writer.execute(sql))
        try:
            await asyncio.shield(step)
        except asyncio.CancelledError:
            with contextlib.suppress(sqlite3.Error):
                await step
            if undo is not None and self._writer.in_transaction:
                await self._writer.execute(undo)
            raise

    async def execute_write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement durably; return the number of rows changed."""
        async with self.write() as tx:
            return await tx.execute(sql, params)

    async def version(self) -> int:
        """Return the schema version of the open database."""
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0


class Transaction:
    """Statements inside one write transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        """Wrap the writer connection for the transaction's lifetime."""
        self._conn = conn
        self.notified = False

    async def notify(self, topic: str) -> None:
        """Record ``topic`` as changed, committed with this transaction.

        Every process's change feed delivers it; this process's feed is woken
        right after the commit.
        """
        await self.execute("INSERT INTO change_log (topic, at) VALUES (?, ?)", (topic, time.time()))
        self.notified = True

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; return the number of rows changed."""
        cursor = await self._conn.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run a statement once per row."""
        await self._conn.executemany(sql, rows)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT and return the new row id."""
        cursor = await self._conn.execute(sql, params)
        rowid = cursor.lastrowid
        await cursor.close()
        return int(rowid or 0)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Read inside the transaction (sees its own uncommitted writes)."""
        cursor = await self._conn.execute(sql, params)
        row = await cursor.fetchone()
        await cursor.close()
        return row

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Read all rows inside the transaction."""
        cursor = await self._conn.execute(sql, params)
        rows = await cursor.fetchall()
        await cursor.close()
        return list(rows)

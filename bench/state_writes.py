"""Acknowledged durable writes: Préau's state DB against plain SQLite.

Both sides use WAL and ``synchronous=FULL`` on the same disk, one transaction
per acknowledged write (what an admin action costs). The peer is the stdlib
``sqlite3`` module in a tight loop, the floor any SQLite-backed appliance
pays; Préau adds aiosqlite's thread hop, the asyncio write lock and the
change-log row. Run: ``.venv/bin/python bench/state_writes.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.changes import ChangeFeed
from appliance.executor import BlockingExecutor
from appliance.state.db import StateDB
from bench._peers import result_line

WRITES = 2000


def plain_sqlite(path: Path) -> list[float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE closed_days (day TEXT PRIMARY KEY, reason TEXT)")
    latencies = []
    for index in range(WRITES):
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO closed_days VALUES (?, ?)", (f"d{index}", "bench"))
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - started)
    conn.close()
    return latencies


async def preau_state(path: Path) -> list[float]:
    executor = BlockingExecutor()
    db = await StateDB.open(path, executor)
    latencies = []
    try:
        for index in range(WRITES):
            started = time.perf_counter()
            async with db.write() as tx:
                await tx.execute(
                    "INSERT INTO closed_days (day, reason, created_by, created_at)"
                    " VALUES (?, ?, 'bench', 'now')",
                    (f"d{index}", "bench"),
                )
                await ChangeFeed.record(tx, "calendar")
            latencies.append(time.perf_counter() - started)
    finally:
        await db.close()
        executor.shutdown()
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        peer = plain_sqlite(Path(folder) / "plain.db")
        ours = asyncio.run(preau_state(Path(folder) / "state.db"))
    ours_rate = WRITES / sum(ours)
    peer_rate = WRITES / sum(peer)
    print(f"préau : {ours_rate:8.0f} writes/s  p50 {statistics.median(ours) * 1e3:.2f} ms")
    print(f"sqlite: {peer_rate:8.0f} writes/s  p50 {statistics.median(peer) * 1e3:.2f} ms")
    print(
        result_line(
            writes_per_s=ours_rate,
            sqlite_writes_per_s=peer_rate,
            ratio=ours_rate / peer_rate,
            p50_ms=statistics.median(ours) * 1e3,
            p99_ms=percentile(ours, 0.99) * 1e3,
            sqlite_p99_ms=percentile(peer, 0.99) * 1e3,
        )
    )


if __name__ == "__main__":
    main()

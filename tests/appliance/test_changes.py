"""The change feed survives a failed read and says so in health (issue #12)."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from appliance.core import Core
from appliance.service import Health, Service


async def test_a_failed_read_does_not_stop_the_feed_and_shows_in_health(core: Core) -> None:
    """One DB error used to end the watcher, and every cross-process update with it (#12)."""
    feed = core.changes
    seen: list[str] = []
    delivered = asyncio.Event()

    async def handler(topic: str) -> None:
        seen.append(topic)
        delivered.set()

    feed.subscribe("t", handler)
    real = core.db.fetchall
    broken = True

    async def flaky(sql: str, *args: Any) -> Any:
        if broken and "change_log" in sql:
            raise sqlite3.OperationalError("disk I/O error")
        return await real(sql, *args)

    core.db.fetchall = flaky  # type: ignore[method-assign]
    await feed.start()
    try:
        async with asyncio.timeout(30):
            while feed.failures < 2:
                feed.poke()
                await asyncio.sleep(0.01)
        problem = feed.problem()
        assert problem is not None
        assert "disk I/O error" in problem.text
        assert feed._task is not None
        assert not feed._task.done()
        broken = False
        async with core.db.write() as tx:
            await tx.notify("t")
        async with asyncio.timeout(60):
            await delivered.wait()
        assert seen == ["t"]
        assert feed.problem() is None
    finally:
        core.db.fetchall = real  # type: ignore[method-assign]
        await feed.stop()


async def test_health_is_degraded_while_the_feed_fails(core: Core) -> None:
    class Quiet(Service):
        name = "quiet"

        async def async_start(self) -> None:
            pass

        async def async_stop(self) -> None:
            pass

        async def async_health(self) -> Health:
            return Health("ok", "")

    core.services["quiet"] = Quiet(core)
    core.changes.failures = 3
    core.changes.last_error = "OperationalError: database is locked"
    await core.report_health()
    row = await core.db.fetchone(
        "SELECT status, detail, detail_values FROM service_health WHERE service = 'quiet'"
    )
    assert row is not None
    assert row["status"] == "degraded"
    assert "database is locked" in row["detail_values"]
    core.changes.failures = 0
    await core.report_health()
    row = await core.db.fetchone("SELECT status FROM service_health WHERE service = 'quiet'")
    assert row is not None
    assert row["status"] == "ok"
    del core.services["quiet"]

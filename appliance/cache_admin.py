"""The update cache's figures in the state DB: what the web UI and the API show.

The cache service adds its traffic per local day and content class every few
seconds and replaces a snapshot of its most used objects; the web process
reads them. Nothing here names a device, an address or a person.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.core import Core


@dataclass(frozen=True, slots=True)
class TrafficDelta:
    """Bytes and requests of one content class since the last flush."""

    content_class: str
    served_bytes: int = 0
    fetched_bytes: int = 0
    hits: int = 0
    misses: int = 0


@dataclass(frozen=True, slots=True)
class ObjectFigures:
    """One cached object as the UI lists it."""

    digest: str
    url: str
    content_class: str
    length: int
    present_bytes: int
    served_bytes: int
    last_used: float
    pinned: str = ""


def local_day(core: Core, at: float | None = None) -> str:
    """Return the site's calendar day of ``at``."""
    when = dt.datetime.fromtimestamp(time.time() if at is None else at, core.config.site.zone)
    return when.date().isoformat()


async def add_traffic(core: Core, deltas: Iterable[TrafficDelta], at: float | None = None) -> None:
    """Add the traffic since the last flush to today's rows."""
    day = local_day(core, at)
    rows = [
        (day, d.content_class, d.served_bytes, d.fetched_bytes, d.hits, d.misses)
        for d in deltas
        if d.served_bytes or d.fetched_bytes or d.hits or d.misses
    ]
    if not rows:
        return
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT INTO cache_traffic (day, content_class, served_bytes, fetched_bytes,"
            " hits, misses) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (day, content_class) DO UPDATE"
            " SET served_bytes = served_bytes + excluded.served_bytes,"
            " fetched_bytes = fetched_bytes + excluded.fetched_bytes,"
            " hits = hits + excluded.hits, misses = misses + excluded.misses",
            rows,
        )


async def replace_objects(core: Core, objects: Iterable[ObjectFigures]) -> None:
    """Replace the snapshot of the most used objects."""
    async with core.db.write() as tx:
        await tx.execute("DELETE FROM cache_objects")
        await tx.executemany(
            "INSERT INTO cache_objects (digest, url, content_class, length, present_bytes,"
            " served_bytes, last_used, pinned) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [dataclasses.astuple(o) for o in objects],  # fields in column order
        )


async def traffic_by_day(core: Core, days: int = 30) -> list[dict[str, Any]]:
    """Return served, fetched and saved bytes per day for the last ``days`` days, oldest first."""
    today = dt.date.fromisoformat(local_day(core))
    first = today - dt.timedelta(days=days - 1)
    rows = await core.db.fetchall(
        "SELECT day, SUM(served_bytes) AS served, SUM(fetched_bytes) AS fetched,"
        " SUM(hits) AS hits, SUM(misses) AS misses FROM cache_traffic WHERE day >= ?"
        " GROUP BY day",
        (first.isoformat(),),
    )
    known = {row["day"]: row for row in rows}
    result = []
    for offset in range(days):
        day = (first + dt.timedelta(days=offset)).isoformat()
        row = known.get(day)
        served = int(row["served"]) if row else 0
        fetched = int(row["fetched"]) if row else 0
        result.append(
            {
                "day": day,
                "served": served,
                "fetched": fetched,
                "saved": max(0, served - fetched),
                "hits": int(row["hits"]) if row else 0,
                "misses": int(row["misses"]) if row else 0,
            }
        )
    return result


async def traffic_by_class(core: Core, days: int = 30) -> list[dict[str, Any]]:
    """Return served and fetched bytes per content class over the last ``days`` days."""
    first = dt.date.fromisoformat(local_day(core)) - dt.timedelta(days=days - 1)
    rows = await core.db.fetchall(
        "SELECT content_class, SUM(served_bytes) AS served, SUM(fetched_bytes) AS fetched,"
        " SUM(hits) AS hits, SUM(misses) AS misses FROM cache_traffic WHERE day >= ?"
        " GROUP BY content_class ORDER BY served DESC",
        (first.isoformat(),),
    )
    return [
        {
            "content_class": row["content_class"],
            "served": int(row["served"]),
            "fetched": int(row["fetched"]),
            "saved": max(0, int(row["served"]) - int(row["fetched"])),
            "hit_ratio": 1 - int(row["fetched"]) / int(row["served"]) if row["served"] else 0.0,
            "hits": int(row["hits"]),
            "misses": int(row["misses"]),
        }
        for row in rows
    ]


async def top_objects(core: Core, limit: int = 20) -> list[dict[str, Any]]:
    """Return the objects devices took most bytes of."""
    rows = await core.db.fetchall(
        "SELECT * FROM cache_objects ORDER BY served_bytes DESC, last_used DESC LIMIT ?", (limit,)
    )
    return [dict(row) for row in rows]


async def purge_traffic(core: Core, keep_days: int = 400) -> int:
    """Forget daily traffic older than ``keep_days`` days."""
    first = dt.date.fromisoformat(local_day(core)) - dt.timedelta(days=keep_days)
    return await core.db.execute_write(
        "DELETE FROM cache_traffic WHERE day < ?", (first.isoformat(),)
    )

"""The update cache's figures in the state DB: what the web UI and the API show.

The cache service adds its traffic per local day and content class every few
seconds and replaces a snapshot of its most used objects; the web process
reads them. Nothing here names a device, an address or a person.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from appliance.i18n import N_
from appliance.problems import Problem, UserError

if TYPE_CHECKING:
    from appliance.core import Core
    from cache.config import PrestageEntry


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


# -- night pre-staging -------------------------------------------------------------------

PLAN_NAME: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
SHA256: Final = re.compile(r"[0-9a-f]{64}")
MAX_PLAN_ITEMS: Final = 5000


class PrestageError(UserError):
    """A pre-staging list that cannot be used; the message names the line or field."""


@dataclass(frozen=True, slots=True)
class PrestageItem:
    """One URL to fetch at night, with the publisher's SHA-256 when known."""

    url: str
    sha256: str = ""


def parse_plan_text(text: str) -> list[PrestageItem]:
    """Parse lines ``URL [SHA256]`` (blank lines and ``#`` comments skipped)."""
    items = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) > 2:
            raise PrestageError(N_("ligne %(number)s : URL [SHA256] est attendu"), number=number)
        where = Problem(N_("ligne %(number)s"), {"number": number})
        items.append(check_item(parts[0], parts[1] if len(parts) == 2 else "", where))
    return items


def check_item(url: str, sha256: str, where: str | Problem) -> PrestageItem:
    """Return a checked item: an http:// URL with a host, and a hex SHA-256 or nothing."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or not parsed.hostname:
        raise PrestageError(
            N_("%(where)s : « %(url)s » : une adresse http:// est attendue (HTTPS n'est jamais "
               "mis en cache)"),
            where=where,
            url=url,
        )  # fmt: skip
    sha256 = sha256.lower()
    if sha256 and not SHA256.fullmatch(sha256):
        raise PrestageError(
            N_("%(where)s : sha256 : 64 chiffres hexadécimaux sont attendus"), where=where
        )
    return PrestageItem(url, sha256)


async def set_plan(
    core: Core, plan: str, items: list[PrestageItem], *, actor: str, source: str
) -> int:
    """Replace the URLs of ``plan`` (an empty list deletes it); return how many."""
    if not PLAN_NAME.fullmatch(plan):
        raise PrestageError(N_("plan : lettres minuscules, chiffres et tirets (40 au plus)"))
    if len(items) > MAX_PLAN_ITEMS:
        raise PrestageError(N_("items : au plus %(most)s par liste"), most=MAX_PLAN_ITEMS)
    now = time.time()
    unique = {item.url: item for item in items}
    async with core.db.write() as tx:
        await tx.execute("DELETE FROM cache_prestage_items WHERE plan = ?", (plan,))
        await tx.executemany(
            "INSERT INTO cache_prestage_items (plan, url, sha256, added_by, added_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(plan, item.url, item.sha256, actor, now) for item in unique.values()],
        )
        await core.audit.record_in(
            tx, actor=actor, source=source, action="cache.prestage.plan", outcome="ok",
            target=plan, detail=f"{len(unique)} URL",
        )  # fmt: skip
    return len(unique)


# Who "added" the plans the configuration names (a central policy's among them).
FROM_CONFIG: Final = "configuration"


async def keep_config_plans(core: Core, wanted: Mapping[str, Sequence[PrestageEntry]]) -> None:
    """Make the plans the configuration names hold its URLs; drop those it no longer names."""
    rows = await core.db.fetchall(
        "SELECT plan, url, sha256 FROM cache_prestage_items WHERE added_by = ?", (FROM_CONFIG,)
    )
    held: dict[str, set[tuple[str, str]]] = {}
    for row in rows:
        held.setdefault(str(row["plan"]), set()).add((str(row["url"]), str(row["sha256"])))
    for plan, entries in wanted.items():
        items = [check_item(e.url, e.sha256, f"cache.prestage_plans.{plan}") for e in entries]
        if {(i.url, i.sha256) for i in items} != held.get(plan, set()):
            await set_plan(core, plan, items, actor=FROM_CONFIG, source="config")
    for plan in sorted(set(held) - set(wanted)):
        await set_plan(core, plan, [], actor=FROM_CONFIG, source="config")


async def plans(core: Core) -> list[dict[str, Any]]:
    """Return each plan with its item counts by status and bytes fetched."""
    rows = await core.db.fetchall(
        "SELECT plan, COUNT(*) AS items, SUM(status = 'done') AS done,"
        " SUM(status = 'failed') AS failed, SUM(bytes) AS bytes, MAX(checked_at) AS checked_at"
        " FROM cache_prestage_items GROUP BY plan ORDER BY plan"
    )
    return [dict(row) for row in rows]


async def prestage_items(core: Core, plan: str | None = None) -> list[dict[str, Any]]:
    """Return the items to fetch (of one plan, or all)."""
    if plan is None:
        rows = await core.db.fetchall("SELECT * FROM cache_prestage_items ORDER BY plan, id")
    else:
        rows = await core.db.fetchall(
            "SELECT * FROM cache_prestage_items WHERE plan = ? ORDER BY id", (plan,)
        )
    return [dict(row) for row in rows]


async def record_item(core: Core, item_id: int, status: str, fetched: int, error: str) -> None:
    """Record how fetching one item went."""
    await core.db.execute_write(
        "UPDATE cache_prestage_items SET status = ?, bytes = ?, error = ?, checked_at = ?"
        " WHERE id = ?",
        (status, fetched, error[:300], time.time(), item_id),
    )


async def request_prestage(core: Core, deadline: float) -> int:
    """Ask the cache service to fetch every plan's items before ``deadline``; return the run."""
    async with core.db.write() as tx:
        return await tx.insert(
            "INSERT INTO cache_prestage_runs (requested_at, deadline) VALUES (?, ?)",
            (time.time(), deadline),
        )


async def next_requested_run(core: Core) -> dict[str, Any] | None:
    """Return the oldest run waiting for the cache service."""
    row = await core.db.fetchone(
        "SELECT * FROM cache_prestage_runs WHERE status = 'requested' ORDER BY id LIMIT 1"
    )
    return dict(row) if row else None


async def update_run(core: Core, run_id: int, **fields: Any) -> None:
    """Update a run's status and counts (the cache service reports as it goes)."""
    allowed = {"status", "started_at", "finished_at", "items_done", "items_failed", "items_left",
               "fetched_bytes"}  # fmt: skip
    if not fields or set(fields) - allowed:
        raise ValueError(f"unknown run fields: {sorted(set(fields) - allowed)}")
    assignments = ", ".join(f"{name} = ?" for name in fields)
    await core.db.execute_write(
        f"UPDATE cache_prestage_runs SET {assignments} WHERE id = ?",  # noqa: S608 - names checked
        (*fields.values(), run_id),
    )


async def prestage_run(core: Core, run_id: int) -> dict[str, Any] | None:
    """Return one run."""
    row = await core.db.fetchone("SELECT * FROM cache_prestage_runs WHERE id = ?", (run_id,))
    return dict(row) if row else None


async def recent_runs(core: Core, limit: int = 7) -> list[dict[str, Any]]:
    """Return the last runs, newest first."""
    rows = await core.db.fetchall(
        "SELECT * FROM cache_prestage_runs ORDER BY id DESC LIMIT ?", (limit,)
    )
    return [dict(row) for row in rows]


# -- publishers' hashes ------------------------------------------------------------------


async def record_publisher_hashes(core: Core, hashes: Iterable[tuple[str, str]]) -> int:
    """Remember (cache key, SHA-256) pairs read from a publisher's index; return how many."""
    now = time.time()
    rows = [(key, sha256, now) for key, sha256 in hashes]
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT INTO cache_publisher_hashes (cache_key, sha256, seen_at) VALUES (?, ?, ?)"
            " ON CONFLICT (cache_key) DO UPDATE SET sha256 = excluded.sha256,"
            " seen_at = excluded.seen_at",
            rows,
        )
    return len(rows)


async def publisher_hash(core: Core, cache_key: str) -> str:
    """Return the publisher's SHA-256 for a cache key, or ''."""
    row = await core.db.fetchone(
        "SELECT sha256 FROM cache_publisher_hashes WHERE cache_key = ?", (cache_key,)
    )
    return str(row["sha256"]) if row else ""


# -- Apple content caching -----------------------------------------------------------------


async def apple_cache_signals(core: Core) -> dict[str, dict[str, float]]:
    """Return what the DNS filter saw of Apple's content caching, by kind.

    ``registration``: a Mac content cache on this network registered with Apple;
    ``lookup``: Apple devices looked for a cache. Counts and last time only.
    """
    rows = await core.db.fetchall(
        "SELECT name, labels, value FROM service_metrics WHERE service = 'filter'"
        " AND name IN ('preau_filter_apple_cache_queries_total',"
        " 'preau_filter_apple_cache_last_seen_seconds')"
    )
    signals: dict[str, dict[str, float]] = {}
    for row in rows:
        kind = str(row["labels"]).removeprefix('kind="').removesuffix('"')
        field = "count" if row["name"].endswith("_total") else "last_seen"
        signals.setdefault(kind, {})[field] = float(row["value"])
    return signals

"""The link's state and the report spool, in the state DB.

:class:`LinkState` is the one row the referent's page and /metrics read:
enrolment, the policy in force and where it came from, the last exchange,
the alerts. The spool keeps reports until the centre acknowledges them,
bounded in bytes and in age: when full, the oldest are dropped and counted
(``preau_sync_spool_dropped_total``), never the newest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.state.db import StateDB

LINK_TOPIC: Final = "sync.link"
# "Read the centre now" (the referent's button, an enrolment): wakes the service.
CHECK_TOPIC: Final = "sync.check"


@dataclass(slots=True)
class LinkState:
    """What the box knows of its link with the centre."""

    box_id: str = ""
    uai: str = ""
    repository: str = ""
    intake: str = ""
    enrolled_at: float = 0.0
    revoked: bool = False
    last_exchange_at: float = 0.0
    last_error: str = ""
    last_error_values: dict[str, Any] = field(default_factory=dict)
    # The policy in force: the targets' version, its digest and origins.
    policy_version: int = 0
    policy_digest: str = ""
    policy_origins: list[str] = field(default_factory=list)
    # Per key: value, origin, locked, winner (what the referent's page shows).
    policy_settings: list[dict[str, Any]] = field(default_factory=list)
    policy_applied_at: float = 0.0
    # True while the repository cannot be read or trusted (the last good stays).
    policy_stale: bool = False
    # An apply waiting for its health check: {"digest", "previous", "since"}.
    pending: dict[str, Any] = field(default_factory=dict)
    # Why the centre's last policy was refused or undone (kept until one applies).
    policy_problem: str = ""
    policy_problem_values: dict[str, Any] = field(default_factory=dict)
    # Digests that failed their health check: not applied again.
    refused_digests: list[str] = field(default_factory=list)
    time_trusted: bool = False
    spool_dropped_total: int = 0
    sent_total: int = 0
    # The collectivité's offline key replacement backups are encrypted to (fleet file).
    pra_recipient: str = ""
    # The centre's apps for this site: name, platform, version, origin, and why the
    # store refused one (a message id and its values; "" when it is in the store).
    central_apps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def enrolled(self) -> bool:
        """Say whether the box has a box id from the centre."""
        return bool(self.box_id)


async def ask_check(db: StateDB) -> None:
    """Ask the sync service, in whatever process, to read the centre now."""
    async with db.write() as tx:
        await tx.notify(CHECK_TOPIC)


async def central_linked(core: Core) -> bool:
    """Return whether the box is enrolled at a centre and not revoked."""
    link = await read_link(core.db)
    return link.enrolled and not link.revoked


async def read_link(db: StateDB) -> LinkState:
    """Return the link's state (empty before enrolment)."""
    row = await db.fetchone("SELECT state FROM sync_link WHERE id = 1")
    if row is None:
        return LinkState()
    known = LinkState.__dataclass_fields__
    values = {k: v for k, v in json.loads(row["state"]).items() if k in known}
    return LinkState(**values)


async def write_link(db: StateDB, link: LinkState) -> None:
    """Replace the link's state and tell the pages."""
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO sync_link (id, state) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET state = excluded.state",
            (json.dumps(asdict(link), sort_keys=True),),
        )
        await tx.notify(LINK_TOPIC)


@dataclass(frozen=True, slots=True)
class SpoolBounds:
    """How much the spool may hold."""

    max_bytes: int
    max_age_seconds: float


async def spool_put(db: StateDB, payload: str, now: float, bounds: SpoolBounds) -> int:
    """Add a report; drop the oldest beyond the bounds; return how many were dropped."""
    size = len(payload.encode())
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO sync_spool (created_at, size, payload) VALUES (?, ?, ?)",
            (now, size, payload),
        )
        dropped = await tx.execute(
            "DELETE FROM sync_spool WHERE created_at < ?", (now - bounds.max_age_seconds,)
        )
        rows = await tx.fetchall("SELECT seq, size FROM sync_spool ORDER BY seq DESC")
        total, cut = 0, None
        for row in rows:
            total += row["size"]
            if total > bounds.max_bytes:
                cut = row["seq"]
                break
        if cut is not None:
            dropped += await tx.execute("DELETE FROM sync_spool WHERE seq <= ?", (cut,))
    return dropped


async def spool_batch(db: StateDB, max_bytes: int) -> list[tuple[int, str]]:
    """Return the oldest reports, in order, up to about ``max_bytes``."""
    rows = await db.fetchall("SELECT seq, size, payload FROM sync_spool ORDER BY seq LIMIT 500")
    batch: list[tuple[int, str]] = []
    total = 0
    for row in rows:
        if batch and total + row["size"] > max_bytes:
            break
        batch.append((int(row["seq"]), str(row["payload"])))
        total += row["size"]
    return batch


async def spool_acknowledge(db: StateDB, up_to: int) -> None:
    """Forget the reports the centre acknowledged."""
    async with db.write() as tx:
        await tx.execute("DELETE FROM sync_spool WHERE seq <= ?", (up_to,))


async def spool_size(db: StateDB) -> tuple[int, int]:
    """Return (reports, bytes) waiting."""
    row = await db.fetchone("SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM sync_spool")
    return (int(row["n"]), int(row["b"])) if row is not None else (0, 0)

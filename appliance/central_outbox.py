"""Messages for the collectivité's central team, waiting for the link to carry them.

A feature puts a message in the outbox inside its own transaction (so the
message leaves if and only if its cause is stored); whichever feature links
the box to a centre (:attr:`appliance.features.Feature.central_link`) sends
the rows oldest first and deletes each once the centre acknowledged it.
Senders choose what goes up: a message carries no person's identifier.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Final

from appliance.i18n import N_
from appliance.problems import UserError

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.state.db import StateDB, Transaction

# What the centre accepts, by kind; anything else is refused before it is stored.
KINDS: Final = frozenset({"help", "update"})
MAX_BODY: Final = 8192
BATCH: Final = 50


class OutboxRefused(UserError):
    """A message that cannot be sent up as it is."""


async def linked(core: Core) -> bool:
    """Return whether some feature links this box to a centre now."""
    for feature in core.features:
        if feature.central_link is not None and await feature.central_link(core):
            return True
    return False


async def put(tx: Transaction, kind: str, body: dict[str, Any]) -> int:
    """Queue a message within the caller's transaction; return its number."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    if kind not in KINDS:
        raise OutboxRefused(N_("message pour le centre d'un genre inconnu : %(kind)s"), kind=kind)
    if len(text.encode()) > MAX_BODY:
        raise OutboxRefused(N_("message pour le centre trop long"))
    return await tx.insert(
        "INSERT INTO central_outbox (kind, body, created_at) VALUES (?, ?, ?)",
        (kind, text, time.time()),
    )


async def waiting(db: StateDB, limit: int = BATCH) -> list[dict[str, Any]]:
    """Return the oldest messages not yet acknowledged."""
    rows = await db.fetchall(
        "SELECT id, kind, body, created_at FROM central_outbox ORDER BY id LIMIT ?", (limit,)
    )
    return [
        {"id": row["id"], "kind": row["kind"], "created_at": row["created_at"],
         "body": json.loads(row["body"])}
        for row in rows
    ]  # fmt: skip


async def acknowledged(db: StateDB, ids: list[int]) -> None:
    """Forget the messages the centre acknowledged."""
    async with db.write() as tx:
        await tx.executemany("DELETE FROM central_outbox WHERE id = ?", [(i,) for i in ids])

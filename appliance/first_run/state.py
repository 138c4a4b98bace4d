"""Whether a first run is pending, its install code, and its end (the ``first_run`` row)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from appliance.state.db import StateDB, Transaction

# No 0/O or 1/I/L: the code is read on a console and typed on a phone.
CODE_ALPHABET: Final = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH: Final = 12  # about 59 bits: out of reach of guessing over HTTP


def new_code() -> str:
    """Return a fresh install code, grouped by four (ABCD-EFGH-JKMN)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def _digest(code: str) -> str:
    typed = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(typed.encode()).hexdigest()


async def begin(db: StateDB) -> str | None:
    """Open a first run with a new install code and return it (None: the box is set up)."""
    code = new_code()
    async with db.write() as tx:
        row = await tx.fetchone("SELECT done_at FROM first_run WHERE id = 1")
        if row is not None and row["done_at"] is not None:
            return None
        await tx.execute(
            "INSERT INTO first_run (id, code_hash, opened_at) VALUES (1, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET code_hash = excluded.code_hash",
            (_digest(code), time.time()),
        )
    return code


async def pending(db: StateDB) -> bool:
    """Say whether the box waits for its first run."""
    row = await db.fetchone("SELECT done_at FROM first_run WHERE id = 1")
    return row is not None and row["done_at"] is None


async def code_matches(db: StateDB, code: str) -> bool:
    """Say whether ``code`` is the pending first run's install code."""
    row = await db.fetchone("SELECT code_hash FROM first_run WHERE id = 1 AND done_at IS NULL")
    return row is not None and hmac.compare_digest(row["code_hash"], _digest(code))


async def finish(tx: Transaction, referent: str) -> None:
    """Close the first run (in the transaction that records the referent)."""
    await tx.execute(
        "UPDATE first_run SET done_at = ?, done_by = ? WHERE id = 1", (time.time(), referent)
    )

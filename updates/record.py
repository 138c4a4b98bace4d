"""The update in progress and its outcomes, on the data partition, as root writes them.

The updater and the gate run as root (RAUC, reboots); the state DB is the
``preau`` user's. So root keeps two kinds of small JSON files in
``[updates] folder`` (``/var/lib/preau-update``) (readable by all, written atomically):

- ``pending.json``: the update written to the other slot and not yet kept
  (from which slot and version to which), with the gate's failure once it
  failed. The boot after it reads it: on the new slot, the gate decides; back
  on the old slot, the update was reverted.
- ``outcomes/<id>.json``: what happened, once. :func:`import_outcomes` (run
  as ``preau`` by ``preau update record``, which the gate calls, and by a
  job) copies each into the audit log and the centre's outbox, once.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from appliance import central_outbox
from appliance.atomic import write_atomic
from updates.config import UpdatesConfig

if TYPE_CHECKING:
    from appliance.core import Core

# The outcomes the centre and the dashboard know (French words in labels).
OUTCOMES: Final = ("committed", "reverted", "refused", "failed")


@dataclass(frozen=True, slots=True)
class Pending:
    """An update written to the other slot, waiting for its gate."""

    to_slot: str
    to_version: str
    from_slot: str
    from_version: str
    started: float
    gate_failure: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one update (no person's identifier: it goes to the centre)."""

    outcome: str
    to_version: str
    from_version: str
    reason: str = ""
    at: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: secrets.token_hex(8))


def read_pending(folder: Path) -> Pending | None:
    """Return the update waiting for its gate, if any."""
    try:
        data = json.loads((folder / "pending.json").read_text())
        return Pending(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        # A torn or foreign file: nothing is pending (the slots say the rest).
        return None


def write_pending(pending: Pending, folder: Path) -> None:
    """Keep the update in progress (atomically)."""
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    write_atomic(folder / "pending.json", json.dumps(asdict(pending)), mode=0o644)


def clear_pending(folder: Path) -> None:
    """Forget the update in progress."""
    (folder / "pending.json").unlink(missing_ok=True)


def write_outcome(outcome: Outcome, folder: Path) -> None:
    """Keep one outcome for the state DB and the centre."""
    outcomes = folder / "outcomes"
    outcomes.mkdir(mode=0o755, parents=True, exist_ok=True)
    write_atomic(outcomes / f"{outcome.id}.json", json.dumps(asdict(outcome)), mode=0o644)


def read_outcomes(folder: Path) -> list[Outcome]:
    """Return every outcome kept, oldest first (unreadable files are skipped)."""
    found = []
    for path in sorted((folder / "outcomes").glob("*.json")):
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            found.append(Outcome(**data))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(found, key=lambda outcome: outcome.at)


async def import_outcomes(core: Core) -> int:
    """Copy outcomes not yet recorded into the audit log and the outbox; return how many."""
    folder = core.config.section(UpdatesConfig).folder
    outcomes = await core.executor.run(read_outcomes, folder)
    recorded = 0
    for outcome in outcomes:
        if outcome.outcome not in OUTCOMES:
            continue
        async with core.db.write() as tx:
            fresh = await tx.execute(
                "INSERT OR IGNORE INTO update_outcomes"
                " (id, outcome, to_version, from_version, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    outcome.id,
                    outcome.outcome,
                    outcome.to_version,
                    outcome.from_version,
                    outcome.reason,
                    outcome.at,
                ),
            )
            if not fresh:
                continue
            await core.audit.record_in(
                tx,
                actor="system",
                source="update",
                action="system.update",
                outcome=outcome.outcome,
                target=outcome.to_version,
                detail=outcome.reason,
            )
            await central_outbox.put(tx, "update", asdict(outcome))
        recorded += 1
    return recorded

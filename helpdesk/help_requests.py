"""Requests for help in the state DB: asked, answered, closed, erased a year later.

Every text a person sends goes through :func:`checked_text` before any
write: trimmed, bounded, printable (line breaks allowed). A person sees only
their own requests; the referent sees them all. An answer closes nothing by
itself: the asker may write back, and the referent closes when it is done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from appliance import central_outbox
from appliance.free_text import checked_text
from appliance.i18n import N_
from appliance.problems import UserError
from helpdesk.guides import TOPICS

if TYPE_CHECKING:
    from appliance.core import Core

MAX_MESSAGE: Final = 2000
MAX_ANSWER: Final = 2000
MAX_OPEN_PER_PERSON: Final = 10
RETENTION_DAYS: Final = 365
# A page a request says it came from: a path of the box, nothing else.
MAX_PAGE: Final = 200


class HelpRequestError(UserError):
    """A request that cannot be taken as it is (its topic, too many open)."""


@dataclass(frozen=True, slots=True)
class HelpRequest:
    """A request as the pages show it."""

    id: int
    person_id: str
    role: str
    topic: str
    message: str
    from_page: str
    created_at: float
    answer: str
    answered_by: str
    answered_at: float | None
    closed_at: float | None
    forwarded_at: float | None

    @property
    def state(self) -> str:
        """Return ``waiting``, ``answered`` or ``closed``."""
        if self.closed_at is not None:
            return "closed"
        return "answered" if self.answer else "waiting"


def checked_page(path: str) -> str:
    """Return the box page a request came from, or '' for anything that is not one."""
    path = path.strip()
    if not path.startswith("/") or path.startswith("//") or len(path) > MAX_PAGE:
        return ""
    return path if all(c.isalnum() or c in "/-_." for c in path) else ""


def _row(row: object) -> HelpRequest:
    return HelpRequest(**{name: row[name] for name in HelpRequest.__slots__})  # type: ignore[index]


async def ask(core: Core, person_id: str, role: str, topic: str, message: str, page: str) -> int:
    """Store a new request; return its number."""
    if topic not in TOPICS:
        raise HelpRequestError(N_("Sujet : choisissez-en un dans la liste."))
    message = checked_text(message, MAX_MESSAGE, N_("Votre message"))
    row = await core.db.fetchone(
        "SELECT COUNT(*) FROM help_requests WHERE person_id = ? AND closed_at IS NULL",
        (person_id,),
    )
    if row is not None and row[0] >= MAX_OPEN_PER_PERSON:
        raise HelpRequestError(
            N_("Vous avez déjà %(count)s demandes en cours : attendez une réponse."),
            count=MAX_OPEN_PER_PERSON,
        )
    async with core.db.write() as tx:
        number = await tx.insert(
            "INSERT INTO help_requests (person_id, role, topic, message, from_page, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (person_id, role, topic, message, checked_page(page), time.time()),
        )
        await tx.notify("help")
    return number


async def mine(core: Core, person_id: str) -> list[HelpRequest]:
    """Return a person's requests, newest first."""
    rows = await core.db.fetchall(
        "SELECT * FROM help_requests WHERE person_id = ? ORDER BY created_at DESC LIMIT 50",
        (person_id,),
    )
    return [_row(row) for row in rows]


async def all_requests(core: Core, *, closed: bool = False) -> list[HelpRequest]:
    """Return the open requests (waiting first, oldest first), or the last closed ones."""
    if closed:
        sql = (
            "SELECT * FROM help_requests WHERE closed_at IS NOT NULL"
            " ORDER BY closed_at DESC LIMIT 100"
        )
    else:
        sql = (
            "SELECT * FROM help_requests WHERE closed_at IS NULL"
            " ORDER BY answer != '', created_at LIMIT 500"
        )
    return [_row(row) for row in await core.db.fetchall(sql)]


async def answer(core: Core, number: int, text: str, by: str) -> bool:
    """Answer an open request; return whether there was one."""
    text = checked_text(text, MAX_ANSWER, N_("Réponse"))
    async with core.db.write() as tx:
        changed = await tx.execute(
            "UPDATE help_requests SET answer = ?, answered_by = ?, answered_at = ?"
            " WHERE id = ? AND closed_at IS NULL",
            (text, by, time.time(), number),
        )
        await tx.notify("help")
    return changed > 0


async def forward(core: Core, number: int, summary: str) -> bool:
    """Send a request on to the central team, in the referent's words; once.

    What goes up is the topic, the asker's role, when and from which page,
    and ``summary`` as the referent wrote it: never the asker's identifier.
    """
    summary = checked_text(summary, MAX_MESSAGE, N_("Texte transmis"))
    async with core.db.write() as tx:
        row = await tx.fetchone(
            "SELECT topic, role, created_at, from_page FROM help_requests"
            " WHERE id = ? AND forwarded_at IS NULL",
            (number,),
        )
        if row is None:
            return False
        await tx.execute(
            "UPDATE help_requests SET forwarded_at = ? WHERE id = ?", (time.time(), number)
        )
        await central_outbox.put(
            tx,
            "help",
            {
                "topic": row["topic"],
                "role": row["role"],
                "asked_at": row["created_at"],
                "from_page": row["from_page"],
                "summary": summary,
            },
        )
        await tx.notify("help")
    return True


async def close(core: Core, number: int, person_id: str | None = None) -> bool:
    """Close a request (the referent's, or the asker's own when ``person_id`` is given)."""
    sql = "UPDATE help_requests SET closed_at = ? WHERE id = ? AND closed_at IS NULL"
    params: list[object] = [time.time(), number]
    if person_id is not None:
        sql += " AND person_id = ?"
        params.append(person_id)
    return await core.db.execute_write(sql, params) > 0


async def waiting_count(core: Core) -> int:
    """Return how many open requests have no answer yet."""
    row = await core.db.fetchone(
        "SELECT COUNT(*) FROM help_requests WHERE closed_at IS NULL AND answer = ''"
    )
    return int(row[0]) if row else 0


async def purge(core: Core, now: float | None = None) -> int:
    """Erase the requests closed more than a year ago; return how many."""
    cutoff = (time.time() if now is None else now) - RETENTION_DAYS * 86_400
    return await core.db.execute_write(
        "DELETE FROM help_requests WHERE closed_at IS NOT NULL AND closed_at < ?", (cutoff,)
    )

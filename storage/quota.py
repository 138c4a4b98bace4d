"""The one quota accountant: how many bytes a write may still take (#8.8, issue #11).

Pure arithmetic, no I/O: every write path asks it before writing — the API
and the pages (:meth:`ProductionsStore.put`), WebDAV PUT and COPY on both
shares, held uploads (their bytes are reserved while they wait for clamd),
restores — with what the space takes now, what is already promised to
uploads in flight or held, and what the write replaces. Every byte on disk
counts, names starting with a dot included.
"""

from __future__ import annotations

from typing import Final

from appliance.i18n import N_
from storage.errors import SpaceError

FULL: Final = N_("Espace plein : supprimez des fichiers ou demandez plus de place au référent.")


class QuotaError(SpaceError):
    """The space is full (a clear French message goes to the person)."""

    def __init__(self) -> None:
        """Say what to do about it."""
        super().__init__(FULL)


def room(capacity: int, used: int, *, pending: int = 0, replaced: int = 0) -> int:
    """Return how many bytes a new write may take (0 when the space is full)."""
    return max(0, capacity - used - pending + replaced)


def check_fits(size: int, capacity: int, used: int, *, pending: int = 0, replaced: int = 0) -> None:
    """Refuse a write of ``size`` bytes that would take the space past ``capacity``."""
    if size > room(capacity, used, pending=pending, replaced=replaced):
        raise QuotaError

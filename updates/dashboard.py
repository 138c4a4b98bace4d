"""The updates' part of the referent's dashboard: an update the box had to undo.

A revert is the box working as designed, but the referent and the centre
must know the school is still on the old version, and why. The alert stays
for a week, or until a later update is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from appliance.dashboard import Alert
from appliance.i18n import N_

if TYPE_CHECKING:
    from appliance.core import Core

SHOWN_SECONDS: Final = 7 * 24 * 3600


async def update_alerts(core: Core, now: float) -> list[Alert]:
    """Warn about the last update when it was reverted or failed, within a week."""
    row = await core.db.fetchone(
        "SELECT outcome, to_version, reason FROM update_outcomes WHERE at >= ?"
        " ORDER BY at DESC LIMIT 1",
        (now - SHOWN_SECONDS,),
    )
    if row is None or row["outcome"] not in ("reverted", "failed"):
        return []
    if row["outcome"] == "reverted":
        message = N_(
            "La mise à jour %(version)s a été annulée : le boîtier est revenu seul à la "
            "version précédente (%(reason)s). Le centre est prévenu."
        )
    else:
        message = N_(
            "La mise à jour %(version)s a échoué avant le redémarrage (%(reason)s) ; "
            "le boîtier est resté sur sa version."
        )
    return [
        Alert(
            "warning",
            message,
            "/settings",
            {"version": row["to_version"], "reason": row["reason"] or "—"},
        )
    ]

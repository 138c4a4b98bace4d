"""The updates' part of the referent's dashboard: an update to approve, one the box undid.

A revert is the box working as designed, but the referent and the centre
must know the school is still on the old version, and why. The alert stays
for a week, or until a later update is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from appliance.dashboard import Alert
from appliance.i18n import N_
from updates.approval import approver
from updates.config import UpdatesConfig
from updates.offered import read_approval, read_offer

if TYPE_CHECKING:
    from appliance.core import Core

SHOWN_SECONDS: Final = 7 * 24 * 3600
PAGE: Final = "/systeme/mises-a-jour"


async def update_alerts(core: Core, now: float) -> list[Alert]:
    """Warn about an update waiting for approval, and the last one reverted or failed."""
    alerts = await _waiting(core)
    row = await core.db.fetchone(
        "SELECT outcome, to_version, reason FROM update_outcomes WHERE at >= ?"
        " ORDER BY at DESC LIMIT 1",
        (now - SHOWN_SECONDS,),
    )
    if row is None or row["outcome"] not in ("reverted", "failed"):
        return alerts
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
    values = {"version": row["to_version"], "reason": row["reason"] or "—"}
    return [*alerts, Alert("warning", message, PAGE, values)]


async def _waiting(core: Core) -> list[Alert]:
    """Say that an offered update waits for the referent's approval (none from the centre)."""
    section = core.config.section(UpdatesConfig)
    offer = await core.executor.run(read_offer, section.folder)
    if offer is None:
        return []
    given = await core.executor.run(read_approval, core.config.site.data_dir)
    if approver(offer, given, section.approved_versions) is not None:
        return []
    message = N_(
        "La mise à jour du système %(version)s attend votre approbation ; elle s'installera "
        "ensuite en fenêtre de maintenance."
    )
    return [Alert("warning", message, PAGE, {"version": offer.version})]

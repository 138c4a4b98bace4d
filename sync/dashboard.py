"""The link's part of the referent's dashboard: an alert when the centre is out of reach (#16).

The box polls the centre every ``poll_minutes``; three polls missed in a row
(an hour at least) means the centre no longer sees the school's reports nor
sends its policy. A revoked box is an error: the centre cut it off on purpose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.dashboard import Alert
from appliance.i18n import N_
from sync.config import SyncConfig
from sync.state import read_link

if TYPE_CHECKING:
    from appliance.core import Core


async def sync_alerts(core: Core, now: float) -> list[Alert]:
    """Return the link's alert: revoked, or no exchange for three polls."""
    link = await read_link(core.db)
    if not link.enrolled:
        return []
    if link.revoked:
        return [Alert("error", N_("Le centre a révoqué ce boîtier."), "/synchro")]
    quiet = max(3600.0, 3 * 60 * core.config.section(SyncConfig).poll_minutes)
    if now - link.last_exchange_at > quiet:
        hours = int((now - link.last_exchange_at) // 3600)
        return [
            Alert(
                "error",
                N_("Le centre est injoignable depuis %(hours)s h : ni rapports ni politique."),
                "/synchro",
                {"hours": hours},
            )
        ]
    return []

"""Help's part of the referent's dashboard: the requests waiting for an answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.dashboard import Alert
from appliance.i18n import N_
from helpdesk.help_requests import waiting_count

if TYPE_CHECKING:
    from appliance.core import Core


async def help_alerts(core: Core, now: float) -> list[Alert]:
    """Say how many requests wait for the referent's answer."""
    waiting = await waiting_count(core)
    if not waiting:
        return []
    return [
        Alert(
            "warning",
            N_("Demandes d'aide sans réponse : %(count)s."),
            "/aide/demandes",
            {"count": waiting},
        )
    ]

"""Help's words for the pages and the dashboard's last events (``N_``)."""

from __future__ import annotations

from typing import Final

from appliance.i18n import N_
from helpdesk.guides import TOPICS

LABELS: Final[dict[str, dict[str, str]]] = {
    "help.topic": TOPICS,
    "help.state": {
        "waiting": N_("en attente"),
        "answered": N_("répondue"),
        "closed": N_("close"),
    },
    "audit": {
        "help.ask": N_("Demande d'aide envoyée"),
        "help.answer": N_("Demande d'aide répondue"),
        "help.close": N_("Demande d'aide close"),
        "help.forward": N_("Demande d'aide transmise à la collectivité"),
    },
}

"""The portal's part of the first-run page: which interfaces are the pupils' Wi-Fi and the WAN.

The portal itself stays off until the referent switches it on
(``portal.enabled``): the interfaces are named now so that the box knows
which network is not the administration LAN.
"""

from __future__ import annotations

from typing import Any

from appliance.features import FirstRunAnswers, FirstRunPart
from appliance.i18n import N_
from appliance.problems import Problem

FIELDS = {"pupils_interface": "byod_interface", "wan_interface": "wan_interface"}


def read(answers: FirstRunAnswers) -> tuple[dict[str, Any], dict[str, Problem]]:
    """Return the portal's interfaces, or why they cannot be these."""
    chosen = {name: answers.form.get(name, "").strip() for name in FIELDS}
    errors: dict[str, Problem] = {}
    taken = {answers.admin_interface} if answers.admin_interface else set()
    for name, value in chosen.items():
        if not value:
            continue
        if value not in answers.interfaces:
            errors[name] = Problem(N_("choisissez une des interfaces du boîtier"))
        elif value in taken:
            errors[name] = Problem(N_("une interface ne peut servir qu'à un seul réseau"))
        taken.add(value)
    settings = {key: chosen[name] for name, key in FIELDS.items() if chosen[name]}
    return ({"portal": settings} if settings and not errors else {}), errors


PART = FirstRunPart(template="portal_first_run.html", read=read)

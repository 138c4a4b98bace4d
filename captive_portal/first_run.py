"""The portal's part of the first-run page: which interfaces are the pupils' Wi-Fi and the WAN.

The portal itself stays off until the referent switches it on
(``portal.enabled``): the interfaces are named now so that the box knows
which network is not the administration LAN.
"""

from __future__ import annotations

from typing import Any

from appliance.features import FirstRunAnswers
from appliance.i18n import N_
from appliance.problems import Problem


def read(answers: FirstRunAnswers) -> tuple[dict[str, Any], dict[str, Problem]]:
    """Return the portal's interfaces, or why they cannot be these.

    The WAN may be the administration LAN's interface (a box behind the
    school's router has one cable for both); the pupils' Wi-Fi is neither.
    """
    pupils = answers.form.get("pupils_interface", "").strip()
    wan = answers.form.get("wan_interface", "").strip()
    errors: dict[str, Problem] = {}
    for name, value in (("pupils_interface", pupils), ("wan_interface", wan)):
        if value and value not in answers.interfaces:
            errors[name] = Problem(N_("choisissez une des interfaces du boîtier"))
    if pupils and pupils in (answers.admin_interface, wan) and "pupils_interface" not in errors:
        errors["pupils_interface"] = Problem(
            N_("le Wi-Fi des élèves a son interface à lui, ni l'administration ni internet")
        )
    settings = {
        key: value for key, value in (("byod_interface", pupils), ("wan_interface", wan)) if value
    }
    return ({"portal": settings} if settings and not errors else {}), errors

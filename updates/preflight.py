"""What an update must satisfy before it touches anything, as pure functions.

The anchors' updaters fill disks (OpenELEC, fpp, Home Assistant's « No such
image ») and land during lessons. Here the caller passes what it measured
(free bytes, sizes, the next opening of the maintenance window, now) and
gets a refusal in French, or None. No I/O and no clock.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Final

from appliance.i18n import N_
from appliance.problems import UserError
from appliance.scheduler.calendar import Opening

# Room kept above what the update needs: the journal and the state go on
# writing meanwhile.
MARGIN: Final = 0.10


class UpdateRefused(UserError):
    """An update that cannot go ahead now (nothing was touched)."""


def space_needed(artefact_bytes: int, unpack_bytes: int) -> int:
    """Return the bytes the data partition must have free: both, plus the margin."""
    if artefact_bytes < 0 or unpack_bytes < 0:
        raise ValueError("sizes are never negative")
    return math.ceil((artefact_bytes + unpack_bytes) * (1 + MARGIN))


def megabytes(count: int) -> str:
    """Return COUNT bytes as French megabytes with one decimal."""
    return f"{count / 1_000_000:.1f}".replace(".", ",")


def check_space(free_bytes: int, artefact_bytes: int, unpack_bytes: int) -> None:
    """Refuse when the data partition lacks room for the artefact, its unpacking and 10 %."""
    needed = space_needed(artefact_bytes, unpack_bytes)
    if free_bytes < needed:
        raise UpdateRefused(
            N_(
                "Mise à jour refusée : il faut %(needed)s Mo libres sur la partition des "
                "données, il n'y en a que %(free)s Mo. Rien n'a été modifié ; libérez de "
                "la place (anciennes sauvegardes, fichiers) puis relancez."
            ),
            needed=megabytes(needed),
            free=megabytes(free_bytes),
        )


def check_slot(image_bytes: int, slot_bytes: int) -> None:
    """Refuse an image larger than the slot it would be written to."""
    if image_bytes > slot_bytes:
        raise UpdateRefused(
            N_(
                "Mise à jour refusée : le système (%(image)s Mo) ne tient pas dans "
                "l'emplacement (%(slot)s Mo). Rien n'a été modifié."
            ),
            image=megabytes(image_bytes),
            slot=megabytes(slot_bytes),
        )


def check_window(opening: Opening | None, now: dt.datetime) -> None:
    """Refuse outside the maintenance window, or during lessons, saying when it opens."""
    if opening is not None and opening.at <= now:
        return
    if opening is None:
        raise UpdateRefused(
            N_(
                "Mise à jour refusée : aucune fenêtre de maintenance n'est prévue "
                "(voir Réglages › Fenêtres de maintenance)."
            )
        )
    raise UpdateRefused(
        N_(
            "Mise à jour refusée maintenant : elle n'a lieu qu'en fenêtre de maintenance, "
            "hors des cours. Prochaine ouverture : %(when)s."
        ),
        when=opening.at.strftime("%d/%m/%Y %H:%M"),
    )

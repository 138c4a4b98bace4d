"""Whether an offered system update may install, and by whose approval (#5.8, #7.21).

Pure: no I/O. A bundle is *offered* to the box (root copies it to the data
partition and reads its signed manifest); nothing installs until someone
approves it: the referent, from the page « Mises à jour du système », for
this very bundle (its SHA-256, so a bundle swapped after the approval is not
approved), or the centre, whose policy names the versions its sites take.
Then the install waits for the maintenance window (:mod:`updates.preflight`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from appliance.i18n import N_
from updates.preflight import UpdateRefused

Approver = Literal["referent", "centre"]
APPROVERS: Final = ("referent", "centre")


@dataclass(frozen=True, slots=True)
class Offer:
    """A signed bundle lying on the box, waiting to be approved and installed."""

    version: str
    sha256: str
    size: int
    compatible: str
    offered_at: float


@dataclass(frozen=True, slots=True)
class Approval:
    """The referent's approval of one offered bundle (no name: the audit log has it)."""

    version: str
    sha256: str
    at: float


def approver(
    offer: Offer, approval: Approval | None, centre_versions: Sequence[str]
) -> Approver | None:
    """Return who approved OFFER, or None while nobody has."""
    if approval is not None and (approval.version, approval.sha256) == (
        offer.version,
        offer.sha256,
    ):
        return "referent"
    if offer.version in centre_versions:
        return "centre"
    return None


def check_approved(
    offer: Offer, approval: Approval | None, centre_versions: Sequence[str]
) -> Approver:
    """Return who approved OFFER; refuse, saying where to approve it, while nobody has."""
    found = approver(offer, approval, centre_versions)
    if found is None:
        raise UpdateRefused(
            N_(
                "La mise à jour %(version)s attend d'être approuvée (par le référent, page "
                "« Mises à jour du système », ou par le centre) ; rien n'est installé avant."
            ),
            version=offer.version,
        )
    return found

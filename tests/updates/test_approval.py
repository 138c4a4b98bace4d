"""Nothing installs before someone approves this very bundle (CARMO #5.8, #7.21; issue #17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config_overlay import deep_update
from appliance.digests import file_sha256
from sync.policy import Bundle, BundleError, merge, refuse_box_local
from tests.conftest import make_config
from updates import offered
from updates.approval import Approval, Offer, approver, check_approved
from updates.config import UpdatesConfig
from updates.preflight import UpdateRefused

OFFER = Offer("2026.12.1", "a" * 64, 180_000_000, "preau-amd64", 1000.0)


def test_the_referent_approves_one_bundle_by_its_digest() -> None:
    assert approver(OFFER, None, ()) is None
    assert approver(OFFER, Approval("2026.12.1", "a" * 64, 1100.0), ()) == "referent"
    # The same version with other bytes (a bundle swapped after the approval) is not approved.
    assert approver(OFFER, Approval("2026.12.1", "b" * 64, 1100.0), ()) is None
    assert approver(OFFER, Approval("2026.11.9", "a" * 64, 1100.0), ()) is None


def test_the_centre_approves_versions_in_advance() -> None:
    assert approver(OFFER, None, ("2026.11.9", "2026.12.1")) == "centre"
    assert approver(OFFER, None, ("2026.12.10",)) is None
    with pytest.raises(UpdateRefused, match=r"2026\.12\.1 attend d'être approuvée"):
        check_approved(OFFER, None, ("2026.11.9",))
    assert check_approved(OFFER, Approval("2026.12.1", "a" * 64, 1.0), ()) == "referent"


def test_the_centres_policy_bundle_carries_the_approval(tmp_path: Path) -> None:
    """The key travels in the centre's signed bundle like any other; the folder never does."""
    policy = Bundle.model_validate(
        {
            "scope": "group",
            "name": "colleges",
            "settings": {"updates.approved_versions": {"value": ["2026.12.1"], "locked": True}},
        }
    )
    merged = merge([policy], {})
    config = make_config(tmp_path / "data", **deep_update({}, merged.overlay))
    versions = config.section(UpdatesConfig).approved_versions
    assert versions == ["2026.12.1"]
    assert approver(OFFER, None, versions) == "centre"
    with pytest.raises(BundleError):
        refuse_box_local("updates.folder")
    with pytest.raises(ValueError, match="approved_versions"):
        make_config(tmp_path / "data", updates={"approved_versions": ["2026.12.1; rm -rf /"]})


def test_an_offered_bundle_lies_whole_or_not_at_all(tmp_path: Path) -> None:
    folder = tmp_path / "update"
    source = tmp_path / "preau.raucb"
    source.write_bytes(b"bundle" * 1000)
    digest = offered.copy_bundle(source, folder)
    assert digest == file_sha256(source)
    assert offered.read_offer(folder) is None  # no description yet: not offered
    offer = Offer("2026.12.1", digest, 6000, "preau-amd64", 1.0)
    offered.write_offer(offer, folder)
    assert offered.read_offer(folder) == offer
    assert (folder / offered.BUNDLE).stat().st_mode & 0o777 == 0o644
    (folder / offered.BUNDLE).unlink()  # a description without its bundle offers nothing
    assert offered.read_offer(folder) is None
    (folder / offered.OFFER).write_text("{torn")
    assert offered.read_offer(folder) is None
    # A copy cut short leaves only a hidden part, which the next offer clears.
    (folder / ".offered.x.part").write_bytes(b"half")
    offered.clear_offer(folder)
    assert list(folder.iterdir()) == []

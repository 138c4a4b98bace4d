"""RAUC's JSON read as the updater needs it (outputs of RAUC 1.8 on the image, after an install)."""

from __future__ import annotations

from pathlib import Path

from updates.rauc import parse_info, parse_status

HERE = Path(__file__).parent
# `rauc status --detailed --output-format=json` on slot A, B just written.
STATUS = (HERE / "rauc_status.json").read_text()
# `rauc info --output-format=json BUNDLE`.
INFO = (HERE / "rauc_info.json").read_text()


def test_the_slots_after_an_install() -> None:
    status = parse_status(STATUS)
    assert status.booted == "A"
    assert status.primary == "B"  # RAUC names the slot (rootfs.1); we use its bootname
    assert status.other.bootname == "B"
    assert status.other.device == "/dev/disk/by-partlabel/preau-root-b"
    assert status.slot("B").version == "test-2"
    assert status.slot("A").version == ""  # the factory's
    assert status.slot("A").booted
    assert status.slot("B").boot_good is True


def test_a_bundle_says_its_version_and_image_size() -> None:
    info = parse_info(INFO)
    assert (info.compatible, info.version, info.image_bytes) == ("preau-amd64", "test-2", 234115072)


def test_why_the_boxcame_back_to_its_old_slot() -> None:
    from dataclasses import replace

    from updates.cli import came_back
    from updates.record import Pending

    status = parse_status(STATUS)  # B written at 2026-12-02T21:25:46Z
    written = status.slot("B").installed_at
    assert written == 1796246746.0
    gate = Pending(
        "B", "test-2", "A", "", written - 60, gate_failure="l'interface web ne répond pas"
    )
    outcome = came_back(gate, status)
    assert (outcome.outcome, outcome.reason) == ("reverted", "l'interface web ne répond pas")
    boots = replace(gate, gate_failure="")
    outcome = came_back(boots, status)
    assert (outcome.outcome, outcome.reason) == (
        "reverted",
        "le nouveau système n'a pas démarré en trois essais",
    )
    # A write that never finished: B's last completed write is older than the attempt.
    cut = replace(boots, started=written + 60)
    outcome = came_back(cut, status)
    assert (outcome.outcome, outcome.reason) == (
        "failed",
        "la mise à jour a été interrompue avant la fin",
    )
    assert (outcome.to_version, outcome.from_version) == ("test-2", "")

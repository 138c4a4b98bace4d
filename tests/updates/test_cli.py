"""`preau update offer` and `apply`, as root runs them: nothing before approval and the window.

The install itself (RAUC writing a slot, the reboot, the gate) is proven on
the image under QEMU (tests/image_build/test_image_update.py); here, the
refusals that must come before it, on this machine's own ``rauc`` (#5.8, #7.21).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.conftest import make_config, run_preau, write_config
from updates import offered
from updates.approval import Approval, Offer
from updates.record import Pending, write_pending


def closed_window_config(tmp_path: Path, **updates: object) -> tuple[Path, Path, Path]:
    """Write a config whose maintenance window opens hours from now; return it and its folders."""
    zone = make_config(tmp_path / "data").site.zone
    hour = (dt.datetime.now(zone).hour + 6) % 24
    folder = tmp_path / "update"
    config = make_config(
        tmp_path / "data",
        updates={"folder": str(folder), **updates},
        scheduler={"nightly": {"hours": f"{hour:02d}:00-{(hour + 1) % 24:02d}:00"}},
    )
    return write_config(config, tmp_path / "preau.toml"), folder, tmp_path / "data"


def offer(folder: Path, version: str = "2026.12.1") -> Offer:
    source = folder.parent / "bundle.raucb"
    source.write_bytes(b"signed bundle" * 100)
    made = Offer(version, offered.copy_bundle(source, folder), 1300, "preau-amd64", 1.0)
    offered.write_offer(made, folder)
    return made


def test_an_unsigned_bundle_is_refused_before_a_byte_is_copied(tmp_path: Path) -> None:
    path, folder, _ = closed_window_config(tmp_path)
    junk = tmp_path / "junk.raucb"
    junk.write_bytes(b"not a bundle" * 1000)
    result = run_preau("update", "offer", str(junk), config_path=path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "n'est pas signé par le projet" in result.stderr
    assert not (folder / offered.BUNDLE).exists()


def test_nothing_installs_before_approval_then_before_the_window(tmp_path: Path) -> None:
    path, folder, data = closed_window_config(tmp_path)
    nothing = run_preau("update", "apply", config_path=path)
    assert (nothing.returncode, nothing.stdout.strip()) == (0, "Aucune mise à jour proposée.")

    made = offer(folder)
    waiting = run_preau("update", "apply", config_path=path)
    assert waiting.returncode == 0, waiting.stderr
    assert "2026.12.1 attend d'être approuvée" in waiting.stdout
    assert offered.read_offer(folder) == made  # kept for the approval

    offered.write_approval(Approval(made.version, made.sha256, 2.0), data)
    approved = run_preau("update", "apply", config_path=path)
    assert approved.returncode == 0, approved.stderr
    assert "qu'en fenêtre de maintenance, hors des cours. Prochaine ouverture" in approved.stdout
    assert offered.read_offer(folder) == made  # still waiting for its window


def test_the_centres_approval_counts_too(tmp_path: Path) -> None:
    path, folder, _ = closed_window_config(tmp_path, approved_versions=["2026.12.1"])
    offer(folder)
    result = run_preau("update", "apply", config_path=path)
    assert "Prochaine ouverture" in result.stdout, result.stdout + result.stderr


def test_a_bundle_changed_after_its_approval_is_dropped(tmp_path: Path) -> None:
    path, folder, data = closed_window_config(tmp_path)
    made = offer(folder)
    offered.write_approval(Approval(made.version, made.sha256, 2.0), data)
    with (folder / offered.BUNDLE).open("r+b") as handle:
        handle.write(b"X")
    result = run_preau("update", "apply", "--now", config_path=path)
    assert result.returncode == 2
    assert "a changé depuis sa vérification" in result.stderr
    assert not (folder / offered.BUNDLE).exists()
    assert offered.read_offer(folder) is None


def test_no_update_goes_while_the_last_one_is_still_being_checked(tmp_path: Path) -> None:
    path, folder, _ = closed_window_config(tmp_path, approved_versions=["2026.12.1"])
    offer(folder)
    write_pending(Pending("B", "2026.11.2", "A", "2026.11.1", 1.0), folder)
    result = run_preau("update", "apply", "--now", config_path=path)
    assert result.returncode == 0, result.stderr
    assert "encore en vérification" in result.stdout
    assert offered.read_offer(folder) is not None

"""The Raspberry Pi's image (arm64) boots its slot and serves, under qemu-system-aarch64 (#17).

The arm64 package is built in an arm64 Debian run by qemu-user
(``image-build/deb/build-in``), the image by the same ``image-build/image/build``
as the mini-PC's. QEMU's ``virt`` board with Debian's UEFI for it stands in
for the Pi's firmware and U-Boot: from GRUB on, the boot is the Pi's (the
same grub.cfg, grubenv and three tries, the slot's kernel and initrd).

Every instruction of the guest is emulated on this x86 host (TCG): the
package, the image and one boot take about an hour, which the CI's 90
minutes cannot hold beside the rest. So this module carries the ``arm64``
marker, which the default run deselects; it runs with
``./dev test -m arm64 tests/image_build/test_image_arm64.py``, and each
stop's note quotes its console.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.image_build.box import SUITE
from tests.image_build.slotted import SlottedMachine, box_image, deb_arch

pytestmark = [pytest.mark.arm64, pytest.mark.timeout(7200)]

GRUBENV = "/boot/efi/EFI/BOOT/grubenv"


@pytest.fixture(scope="module")
def arm64_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the arm64 package of this checkout, then its image (kept between runs)."""
    out = tmp_path_factory.mktemp("deb-arm64")
    result = subprocess.run(
        [str(REPO / "image-build" / "deb" / "build-in"), SUITE, "arm64", str(REPO), str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=5400,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    (deb,) = out.glob("preau_*_arm64.deb")
    assert deb_arch(deb) == "arm64"
    return box_image(deb)


@pytest.fixture(scope="module")
def pi(arm64_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlottedMachine]:
    """Boot the arm64 image once; keep its console beside the image for the stop's note."""
    machine = SlottedMachine(arm64_image, tmp_path_factory.mktemp("pi"))
    machine.power_on()
    try:
        machine.wait_for_ssh(seconds=3600)
        yield machine
    finally:
        machine.stop()
        if machine.console.exists():
            shutil.copy(machine.console, arm64_image / "console-arm64.log")


def test_the_arm64_image_carries_the_pi_boot_chain(arm64_image: Path) -> None:
    image = arm64_image / "preau-arm64.img"
    # The ESP starts at 1 MiB: list it as mtools reads a partition at an offset.
    listing = subprocess.run(
        ["mdir", "-/", "-b", "-i", f"{image}@@1M", "::/"],
        capture_output=True,
        text=True,
        check=True,
        env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"},
    ).stdout
    for name in (
        "::/config.txt",  # the Pi firmware's settings: 64-bit, start U-Boot
        "::/u-boot.bin",  # Debian's u-boot-rpi (rpi_arm64)
        "::/start4.elf",  # Debian's raspi-firmware, a Pi 4's
        "::/fixup4.dat",
        "::/bcm2711-rpi-4-b.dtb",  # the board's device tree, from the slot's kernel
        "::/EFI/BOOT/BOOTAA64.EFI",  # GRUB, what U-Boot's UEFI (or QEMU's) starts
        "::/EFI/BOOT/grub.cfg",
        "::/EFI/BOOT/grubenv",
    ):
        assert name in listing.split(), name
    config = subprocess.run(
        ["mtype", "-i", f"{image}@@1M", "::/config.txt"],
        capture_output=True,
        text=True,
        check=True,
        env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"},
    ).stdout
    assert "arm_64bit=1" in config
    assert "kernel=u-boot.bin" in config
    info = subprocess.run(
        [
            "rauc",
            "info",
            "--no-verify",
            "--output-format=json",
            str(arm64_image / "preau-arm64.raucb"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(info)["compatible"] == "preau-arm64"


def test_the_arm64_box_boots_slot_a_and_serves(pi: SlottedMachine) -> None:
    assert pi.ssh("uname -m")[1].strip() == "aarch64"
    status = pi.ssh("rauc status --output-format=json")[1]
    assert json.loads(status[status.index("{") :])["booted"] == "A"
    pi.wait_until("systemctl is-active preau-update-gate.service", 1800)
    env = pi.ssh(f"grub-editenv {GRUBENV} list")[1]
    assert "A_OK=1" in env
    assert "A_TRY=0" in env
    assert pi.web_status() == 200
    assert pi.dns_answers(seconds=30)
    assert pi.ssh("findmnt -no FSTYPE /")[1].strip() == "squashfs"
    assert pi.ssh("touch /usr/lib/preau-probe", check=False)[0] != 0

"""The mini-PC's image under UEFI: it serves, and its A/B updates can never brick it (issue #17).

One machine boots the amd64 image (OVMF, GRUB on the ESP) and lives through
the tests in order, as a school's box would: factory slot A serving; bundles
that must be refused (another key's, no signature, no room) leaving every
slot and GRUB's environment as they were; a good update kept on B; then an
update whose web unit crashes at start, which the health gate sends back to
B with nobody's help, the outcome recorded for the centre. CARMO #5.8, #7.21.
"""

from __future__ import annotations

import datetime
import hashlib
import http.server
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.image_build.slotted import (
    PREAU,
    SERVER_ADDRESS,
    SlottedMachine,
    box_image,
    make_bundle,
    signing_key,
)

pytestmark = pytest.mark.timeout(3600)

GRUBENV = "/boot/efi/EFI/BOOT/grubenv"
# The stamp of the package the state was last prepared for, and what it digests.
PREPARED = "/var/lib/preau/prepared-package"
PACKAGE_FILES = "/usr/share/factory/var/lib/dpkg/info/preau.md5sums"
STATE = "/var/lib/preau/state.db"
# The project's bundle, sent into the box once (an emulated SSH takes about a
# minute for it) and copied from there by each test: the data partition keeps
# it through reboots and power cuts.
KEPT = "/var/lib/preau-tests/preau.raucb"
# The box's disk: larger than the image (about 3.6 GiB), as an SD card or SSD is.
DISK_MB = 6144


@pytest.fixture(scope="module")
def image(preau_deb: Path) -> Path:
    """Return the folder of the image built from this checkout's package."""
    return box_image(preau_deb)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """Serve a folder over HTTP on the host's loopback: the centre's update source."""
    folder = tmp_path_factory.mktemp("source")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def box(
    image: Path, source: tuple[Path, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SlottedMachine]:
    """Boot the image once for the whole module, as one box living its life."""
    machine = SlottedMachine(
        image, tmp_path_factory.mktemp("box"), server_port=source[1], disk_mb=DISK_MB
    )
    machine.start()
    try:
        yield machine
    finally:
        machine.stop()


@pytest.fixture(scope="module")
def kept(box: SlottedMachine, image: Path) -> str:
    """Send the project's bundle into the box once; return where it is kept."""
    box.ssh(f"mkdir -p {KEPT.rsplit('/', 1)[0]}")
    box.put(image / "preau-amd64.raucb", KEPT)
    return KEPT


def _slots(box: SlottedMachine) -> dict[str, object]:
    out = box.ssh("rauc status --detailed --output-format=json")[1]
    return json.loads(out[out.index("{") :])  # type: ignore[no-any-return]


def _booted(box: SlottedMachine) -> str:
    return str(_slots(box)["booted"])


def _grubenv(box: SlottedMachine) -> str:
    return box.ssh(f"grub-editenv {GRUBENV} list")[1]


def _sql(box: SlottedMachine, query: str) -> list[list[object]]:
    code = (
        "import json, sqlite3, sys; "
        f"db = sqlite3.connect('file:{STATE}?mode=ro', uri=True); "
        "print(json.dumps([list(r) for r in db.execute(sys.argv[1])]))"
    )
    out = box.ssh(f"/usr/lib/preau/venv/bin/python3 -c {json.dumps(code)} {json.dumps(query)}")[1]
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _project_bundle(image: Path, out: Path, change: str = "") -> Path:
    """Sign with the project's key a bundle of the image's root changed by CHANGE (shell)."""
    key, cert = image / "project.key.pem", image / "project.cert.pem"
    return make_bundle(image, out, key=key, cert=cert, change=change)


def _install_now(box: SlottedMachine, bundle: Path) -> None:
    """Install BUNDLE at once, as the console's explicit approval does (the box reboots)."""
    box.ssh("mkdir -p /var/lib/preau-update")
    box.put(bundle, "/var/lib/preau-update/offered.raucb")
    code, out = box.ssh(
        f"{PREAU} update install --now /var/lib/preau-update/offered.raucb",
        check=False,
        timeout=1800,
    )
    assert code in (0, 255), out  # 255: the reboot closed the connection


def _wait_settled(box: SlottedMachine, slot: str, seconds: float) -> None:
    """Wait until SLOT is booted, no update is pending and its gate has run (across reboots)."""
    box.wait_until(
        f'rauc status --output-format=json | grep -q \'"booted":"{slot}"\' '
        "&& test ! -e /var/lib/preau-update/pending.json "
        "&& systemctl is-active preau-update-gate.service",
        seconds,
    )


def test_the_factory_slot_boots_serves_and_is_kept(box: SlottedMachine) -> None:
    assert _booted(box) == "A"
    box.wait_until("systemctl is-active preau-update-gate.service", 600)
    assert "A_OK=1" in _grubenv(box)
    assert "A_TRY=0" in _grubenv(box)  # the gate confirmed this boot
    assert box.web_status() == 200
    assert box.dns_answers()
    # A read-only root, the school's data on its own partition.
    assert box.ssh("touch /usr/lib/preau-probe", check=False)[0] != 0
    assert (
        "preau-data" in box.ssh("findmnt -no SOURCE,LABEL /var")[1]
        or "preau-data" in box.ssh("lsblk -no PARTLABEL $(findmnt -no SOURCE /var)")[1]
    )
    assert box.ssh("findmnt -no FSTYPE /")[1].strip() == "squashfs"
    # The clock never starts before the build, and journald is capped.
    assert box.ssh("test -e /usr/lib/clock-epoch && echo yes")[1].strip() == "yes"
    assert "SystemMaxUse=64M" in box.ssh("cat /etc/systemd/journald.conf.d/preau.conf")[1]
    # A new box opened its own first run: the install code is on its console.
    assert "Code d'installation" in box.ssh("journalctl -b -u preau-slot-prepare --no-pager")[1]
    # ...and noted which package it prepared the state for.
    assert box.ssh(f"cat {PREPARED}")[1] == box.ssh(f"sha256sum <{PACKAGE_FILES}")[1]


def test_the_data_partition_takes_the_rest_of_the_disk_and_the_slots_keep_theirs(
    box: SlottedMachine,
) -> None:
    box.wait_until("systemctl is-active preau-data-grow.service", 300)
    mib = 1024 * 1024
    data = int(box.ssh("lsblk -bno SIZE /dev/disk/by-partlabel/preau-data")[1]) // mib
    # The disk less the first MiB, the ESP, the slots and GPT's backup (under 1 MiB).
    assert DISK_MB - 1 - 64 - 2 * 1024 - 1 <= data <= DISK_MB - 1 - 64 - 2 * 1024
    for slot in ("a", "b"):
        assert (
            int(box.ssh(f"lsblk -bno SIZE /dev/disk/by-partlabel/preau-root-{slot}")[1])
            == 1024 * mib
        )
    # ext4 grew with it, mounted; GPT's backup header moved to the disk's end.
    assert int(box.ssh("df --output=size -B1M /var | tail -n 1")[1]) > data * 0.9
    assert box.ssh("sfdisk --verify /dev/vda", check=False)[0] == 0
    # At the next boot there is nothing to grow, and that is not a failure.
    assert box.ssh("systemctl restart preau-data-grow.service", check=False)[0] == 0


def test_a_bundle_signed_by_another_key_or_unsigned_is_refused(
    box: SlottedMachine, image: Path, tmp_path: Path
) -> None:
    other_key, other_cert = signing_key(tmp_path, "stranger")
    # 4 MiB of the root: the signature is refused before the slot's bytes matter.
    unsigned = tmp_path / "unsigned.raucb"
    with (image / "root.sqfs").open("rb") as root:
        unsigned.write_bytes(root.read(4 * 1024 * 1024))
    strange = make_bundle(
        image, tmp_path / "strange.raucb", key=other_key, cert=other_cert, root=unsigned
    )
    before = (_grubenv(box), _slots(box))
    for bundle in (strange, unsigned):
        box.ssh("mkdir -p /var/lib/preau-update")
        subprocess.run(
            ["scp", "-q", "-i", str(image / "id_ed25519"), "-P", str(box.ssh_port),
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             str(bundle), "root@127.0.0.1:/var/lib/preau-update/offered.raucb"],
            check=True,
        )  # fmt: skip
        code, out = box.ssh(
            f"{PREAU} update install --now /var/lib/preau-update/offered.raucb", check=False
        )
        assert code == 2, out
        assert "n'est pas signé par le projet" in out
        assert "Rien n'a été modifié" in out
    box.ssh("rm -f /var/lib/preau-update/offered.raucb")
    assert (_grubenv(box), _slots(box)) == before
    assert box.ssh("test -e /var/lib/preau-update/pending.json", check=False)[0] != 0


def test_an_update_without_room_is_refused_before_anything_is_touched(
    box: SlottedMachine, image: Path, kept: str
) -> None:
    box.ssh(f"cp {kept} /tmp/offered.raucb")
    size = (image / "preau-amd64.raucb").stat().st_size
    free = int(box.ssh("df --output=avail -B1 /var | tail -n 1")[1])
    # Leave room for the bundle but not for its 10 %.
    box.ssh(f"fallocate -l {free - size - size // 20} /var/filler")
    before = (
        _grubenv(box),
        _slots(box),
        box.ssh("head -c 4M /dev/disk/by-partlabel/preau-root-b | sha256sum")[1],
    )
    try:
        code, out = box.ssh(f"{PREAU} update install --now /tmp/offered.raucb", check=False)
    finally:
        box.ssh("rm -f /var/filler /tmp/offered.raucb")
    assert code == 2, out
    assert "Mise à jour refusée : il faut" in out
    assert "Mo libres sur la partition des données" in out
    after = (
        _grubenv(box),
        _slots(box),
        box.ssh("head -c 4M /dev/disk/by-partlabel/preau-root-b | sha256sum")[1],
    )
    assert after == before


def test_outside_the_maintenance_window_an_update_waits(box: SlottedMachine, image: Path) -> None:
    # The guest's clock is in lessons or not, depending on when the test runs:
    # set it to a Tuesday at 10:30 in Paris, then put it back.
    box.ssh("date -s '2026-12-01 09:30:00 UTC' >/dev/null")
    try:
        code, out = box.ssh(f"{PREAU} update install /var/lib/nothing.raucb", check=False)
    finally:
        box.ssh(f"date -s @{int(time.time())} >/dev/null")
    assert code == 2, out
    assert "Prochaine ouverture : 02/12/2026 01:00" in out


def test_a_good_update_waits_for_approval_then_is_kept_on_the_other_slot(
    box: SlottedMachine, kept: str
) -> None:
    before = _grubenv(box)
    box.ssh(f"cp {kept} /tmp/preau.raucb")
    code, out = box.ssh(box.offer_command("/tmp/preau.raucb"), check=False, timeout=900)
    assert code == 0, out
    assert "attend l'approbation" in out
    # Offered, verified, copied: nothing installs before someone approves it (#5.8).
    code, out = box.ssh(f"{PREAU} update apply --now", check=False, timeout=900)
    assert code == 0, out
    assert "attend d'être approuvée" in out
    assert _booted(box) == "A"
    assert _grubenv(box) == before
    box.ssh(box.approve_command())
    code, out = box.ssh(f"{PREAU} update apply --now", check=False, timeout=1800)
    assert code in (0, 255), out  # 255: the reboot closed the connection
    box.wait_until(
        'rauc status --output-format=json | grep -q \'"booted":"B"\' '
        "&& systemctl is-active preau-update-gate.service",
        1200,
    )
    assert "B_OK=1" in _grubenv(box)
    assert "B_TRY=0" in _grubenv(box)
    assert box.web_status() == 200
    assert box.dns_answers()
    rows = _sql(box, "SELECT outcome FROM update_outcomes ORDER BY at")
    assert rows == [["committed"]]
    # The slot holds the update now: its room on the data partition is the school's again.
    left = box.ssh("ls -A /var/lib/preau-update", check=False)[1].split()
    assert sorted(left) == [".lock", "outcomes"]
    sent = _sql(box, "SELECT kind FROM central_outbox WHERE kind = 'update'")
    assert sent == [["update"]]


def test_an_update_whose_web_crashes_goes_back_by_itself(
    box: SlottedMachine, image: Path, tmp_path: Path
) -> None:
    crashing = _project_bundle(
        image,
        tmp_path / "crashing.raucb",
        change=(
            "mkdir -p etc/systemd/system/preau-web.service.d\n"
            "printf '[Service]\\nExecStart=\\nExecStart=/bin/false\\n' "
            "> etc/systemd/system/preau-web.service.d/crash.conf"
        ),
    )
    # The gate keeps its five minutes: systemd's third restart of the web ends it sooner.
    _install_now(box, crashing)
    # A boots the crashing system, its gate fails, it marks A bad and reboots: B again.
    _wait_settled(box, "B", 1800)
    env = _grubenv(box)
    assert "A_OK=0" in env
    assert box.web_status() == 200
    assert box.dns_answers()
    rows = _sql(box, "SELECT outcome, reason FROM update_outcomes ORDER BY at")
    assert rows[-1][0] == "reverted"
    assert "l'interface web" in str(rows[-1][1])
    assert "un service redémarre sans cesse" in str(rows[-1][1])


def test_a_power_cut_while_the_slot_is_written_leaves_the_old_one_serving(
    box: SlottedMachine, image: Path, kept: str
) -> None:
    running = _booted(box)
    box.ssh(f"mkdir -p /var/lib/preau-update && cp {kept} /var/lib/preau-update/offered.raucb")
    host, port = box.address(22)
    command = f"{PREAU} update install --now /var/lib/preau-update/offered.raucb"
    install = subprocess.Popen(
        ["ssh", "-q", "-i", str(image / "id_ed25519"), "-p", str(port),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         f"root@{host}", command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # The record is written once the bundle is verified, just before RAUC
        # writes the slot (about half a minute, emulated): cut a few seconds in.
        box.wait_until("test -e /var/lib/preau-update/pending.json", 600)
        time.sleep(5)
    finally:
        box.power_cut()
        install.kill()
        install.wait()
    box.start()
    box.wait_until("systemctl is-active preau-update-gate.service", 900)
    assert _booted(box) == running
    assert box.web_status() == 200
    assert box.dns_answers()
    # The half-written slot is not offered to GRUB, and the attempt is on record.
    other = "A" if running == "B" else "B"
    assert f"{other}_OK=0" in _grubenv(box)
    rows = _sql(box, "SELECT outcome, reason FROM update_outcomes ORDER BY at")
    assert rows[-1] == ["failed", "la mise à jour a été interrompue avant la fin"]
    # A reboot into the package already prepared starts no Python to migrate.
    prepared = box.ssh("journalctl -b -u preau-slot-prepare --no-pager")[1]
    assert "Base d'état déjà à la version de ce système." in prepared
    assert "Base d'état à la version" not in prepared


def test_a_power_cut_in_the_new_slots_first_boot_is_one_try_of_three(
    box: SlottedMachine, kept: str
) -> None:
    running = _booted(box)
    new = "A" if running == "B" else "B"
    box.ssh(f"mkdir -p /var/lib/preau-update && cp {kept} /var/lib/preau-update/offered.raucb")
    offset = len(box.console_text())
    code, out = box.ssh(
        f"{PREAU} update install --now /var/lib/preau-update/offered.raucb",
        check=False,
        timeout=1800,
    )
    assert code in (0, 255), out
    # Cut as soon as GRUB chose the new slot: its first try is spent, unconfirmed.
    deadline = time.monotonic() + 600
    while f"Booting `Preau {new}'" not in box.console_text()[offset:]:
        assert time.monotonic() < deadline, box.tail()
        box.keep_on()
        time.sleep(0.5)
    box.power_cut()
    box.start()
    box.wait_until(
        f'rauc status --output-format=json | grep -q \'"booted":"{new}"\' '
        "&& systemctl is-active preau-update-gate.service",
        1200,
    )
    assert f"{new}_OK=1" in _grubenv(box)
    assert f"{new}_TRY=0" in _grubenv(box)
    assert box.web_status() == 200
    assert _sql(box, "SELECT outcome FROM update_outcomes ORDER BY at")[-1] == ["committed"]


def test_a_slot_that_never_boots_is_left_after_three_tries(
    box: SlottedMachine, image: Path, tmp_path: Path
) -> None:
    running = _booted(box)
    new = "A" if running == "B" else "B"
    # A junk initrd: the kernel finds no root and panics, before any gate can run.
    unbootable = _project_bundle(
        image,
        tmp_path / "unbootable.raucb",
        change="for f in boot/initrd.img-*; do printf 'not an initrd' > \"$f\"; done",
    )
    # The state last prepared for another package: the old slot's boot migrates.
    box.ssh(f"echo another-package > {PREPARED}")
    offset = len(box.console_text())
    _install_now(box, unbootable)
    # GRUB tries the new slot three times (each panics and powers the box
    # again), then boots the old one, whose gate records why.
    _wait_settled(box, running, 2400)
    assert box.console_text()[offset:].count(f"Booting `Preau {new}'") == 3
    assert f"{new}_TRY=3" in _grubenv(box)
    assert box.web_status() == 200
    assert box.dns_answers()
    rows = _sql(box, "SELECT outcome, reason FROM update_outcomes ORDER BY at")
    assert rows[-1] == ["reverted", "le nouveau système n'a pas démarré en trois essais"]
    assert (
        "Base d'état à la version" in box.ssh("journalctl -b -u preau-slot-prepare --no-pager")[1]
    )
    assert box.ssh(f"cat {PREPARED}")[1] == box.ssh(f"sha256sum <{PACKAGE_FILES}")[1]


def test_the_timer_fetches_the_approved_version_and_installs_it_in_the_window(
    box: SlottedMachine, image: Path, source: tuple[Path, int]
) -> None:
    running = _booted(box)
    new = "A" if running == "B" else "B"
    assert box.ssh("systemctl is-enabled preau-update-apply.timer")[1].strip() == "enabled"
    # The centre publishes a new version: its index and its signed bundle.
    folder = source[0]
    bundle = _project_bundle(image, folder / "preau.raucb")
    version = "test-" + hashlib.sha256(b"").hexdigest()[:8]
    index = {
        "version": version,
        "url": f"http://{SERVER_ADDRESS}/preau.raucb",
        "sha256": hashlib.sha256(bundle.read_bytes()).hexdigest(),
        "size": bundle.stat().st_size,
    }
    (folder / "index.json").write_text(json.dumps(index))
    # Its policy says where to look and approves that version (#5.8, #7.21).
    code, text = box.ssh("cat /var/lib/preau/settings.json", check=False)
    settings = json.loads(text) if code == 0 else {}
    settings["updates"] = {
        "source_url": f"http://{SERVER_ADDRESS}/index.json",
        "approved_versions": [version],
    }
    box.ssh(
        "install -o preau -g preau -m 0640 /dev/stdin /var/lib/preau/settings.json",
        stdin=json.dumps(settings).encode(),
    )
    # Tomorrow night, 02:30 in Paris: the nightly maintenance window is open.
    # Never a past day: the signing certificate, made today, would not be valid
    # yet, and RAUC rightly refuses it. What the timer starts: fetch (the
    # updater's own way out), then apply.
    tomorrow = datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=1)
    box.ssh(f"date -s '{tomorrow.isoformat()} 01:30:00 UTC' >/dev/null")
    # --no-block, as the timer: the box reboots before a waiting `start` returns.
    box.ssh("systemctl start --no-block preau-update-apply.service")
    _wait_settled(box, new, 2400)
    assert f'"version":"{version}"' in box.ssh("rauc status --detailed --output-format=json")[1]
    assert box.web_status() == 200
    rows = _sql(box, "SELECT outcome, to_version FROM update_outcomes ORDER BY at")
    assert rows[-1] == ["committed", version]
    # Installed, the offer and its approval are gone; the index stays on the centre.
    assert sorted(box.ssh("ls -A /var/lib/preau-update")[1].split()) == [".lock", "outcomes"]

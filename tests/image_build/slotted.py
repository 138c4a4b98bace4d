"""A box's whole disk image (ESP, root slots A and B, data) booted by QEMU with UEFI.

:func:`box_image` builds the image and its signed bundle once per package and
image recipe (``image-build/image/build``), kept under
``/var/tmp/preau-image/``, with the test's own signing key and root's SSH
key. :class:`SlottedMachine` boots a copy of the disk with OVMF, as a
mini-PC's firmware would: GRUB on the ESP picks the slot. These hosts'
``/dev/kvm`` is ``kvm_pvm`` (see :mod:`tests.image_build.machine`), so QEMU
emulates; a power cut is ``kill -9`` of QEMU, which loses what the guest had
not yet handed to its disk.

Emulated, OVMF sometimes hangs on a warm reset (a guest's reboot) on this
host, spinning with no output; cold boots never did. So QEMU runs with
``-no-reboot`` and a guest's reboot is a power cycle: QEMU exits and
:meth:`SlottedMachine.keep_on` starts it again, as a box's power would.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO
from tests.image_build.machine import Guest, free_port

BUILD_IMAGE = REPO / "image-build" / "image" / "build"
PREAU = "/usr/lib/preau/venv/bin/preau"
# Where a bundle lands on the box before it is offered (a tmpfs: a reboot empties it).
INCOMING = "/tmp/incoming.raucb"
CRASHING = "/tmp/crashing.raucb"
# The centre's approval as its policy gives it: ``updates.approved_versions`` in the
# settings overlay (the preau user's file), naming the offered bundle's version.
APPROVE_OFFERED = b"""
import json, pathlib
offer = json.loads(pathlib.Path("/var/lib/preau-update/offered.json").read_text())
path = pathlib.Path("/var/lib/preau/settings.json")
settings = json.loads(path.read_text()) if path.exists() else {}
settings.setdefault("updates", {})["approved_versions"] = [offer["version"]]
path.write_text(json.dumps(settings))
"""
CACHE = Path("/var/tmp/preau-image")
# Where the box finds a server the test runs on the host (QEMU's guestfwd).
SERVER_ADDRESS = "10.0.2.100"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# arm64: QEMU's virt board with Debian's UEFI for it (qemu-efi-aarch64), the
# firmware a Pi's U-Boot stands in for. Its variables are a 64 MiB flash.
AAVMF_CODE = Path("/usr/share/AAVMF/AAVMF_CODE.fd")
AAVMF_VARS = Path("/usr/share/AAVMF/AAVMF_VARS.fd")


def deb_arch(deb: Path) -> str:
    """Return the architecture a Debian package was built for."""
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def image_arch(folder: Path) -> str:
    """Return the architecture of the box image built in FOLDER."""
    (image,) = folder.glob("preau-*.img")
    return image.stem.removeprefix("preau-")


def signing_key(folder: Path, name: str) -> tuple[Path, Path]:
    """Make (once) a self-signed signing key and certificate called NAME in FOLDER."""
    key, cert = folder / f"{name}.key.pem", folder / f"{name}.cert.pem"
    if not cert.exists():
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
                "-days", "3650", "-subj", f"/O=Preau tests/CN={name}",
            ],
            capture_output=True,
            check=True,
        )  # fmt: skip
    return key, cert


def box_image(deb: Path) -> Path:
    """Return the folder of the box image built from DEB, building it if needed."""
    key = hashlib.sha256(deb.read_bytes())
    for path in sorted((REPO / "image-build" / "image").rglob("*")):
        if path.is_file():
            key.update(path.name.encode() + path.read_bytes())
    folder = CACHE / key.hexdigest()[:16]
    if (folder / f"preau-{deb_arch(deb)}.raucb").exists():
        return folder
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    sign_key, sign_cert = signing_key(partial, "project")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "preau-tests", "-f",
         str(partial / "id_ed25519")],
        check=True,
    )  # fmt: skip
    result = subprocess.run(
        [
            str(BUILD_IMAGE), str(deb), str(partial), "--key", str(sign_key),
            "--cert", str(sign_cert), "--login-key", str(partial / "id_ed25519.pub"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    (partial / "build.out").write_text(result.stdout)
    partial.rename(folder)
    return folder


def make_bundle(
    folder: Path, out: Path, *, key: Path, cert: Path, change: str = "", root: Path | None = None
) -> Path:
    """Sign a bundle of the image's root (or ROOT), after running CHANGE (shell) in a copy of it."""
    work = out.parent / (out.stem + ".d")
    shutil.rmtree(work, ignore_errors=True)
    (work / "bundle").mkdir(parents=True)
    root = root or folder / "root.sqfs"
    if change:
        tree = work / "tree"
        subprocess.run(["unsquashfs", "-q", "-n", "-d", str(tree), str(root)], check=True)
        subprocess.run(["sh", "-ec", change], cwd=tree, check=True)
        # gzip in 128 KiB blocks (mksquashfs's default), as the image: GRUB reads
        # it. Level 1: a tenth of level 9's CPU time, for a slot 10 % larger.
        subprocess.run(
            ["mksquashfs", str(tree), str(work / "bundle" / "root.img"), "-noappend",
             "-comp", "gzip", "-Xcompression-level", "1", "-no-progress", "-quiet"],
            check=True,
            capture_output=True,
        )  # fmt: skip
        shutil.rmtree(tree)
    else:
        shutil.copy(root, work / "bundle" / "root.img")
    version = "test-" + hashlib.sha256(change.encode()).hexdigest()[:8]
    (work / "bundle" / "manifest.raucm").write_text(
        f"[update]\ncompatible=preau-{image_arch(folder)}\nversion="
        + version
        + "\n\n[bundle]\nformat=verity\n\n"
        "[image.rootfs]\nfilename=root.img\n"
    )
    out.unlink(missing_ok=True)
    subprocess.run(
        ["rauc", f"--cert={cert}", f"--key={key}", "bundle", str(work / "bundle"), str(out)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(work)
    return out


@dataclass
class SlottedMachine(Guest):
    """The box's disk image booted by QEMU with OVMF (UEFI), GRUB choosing the slot."""

    memory_mb: int = 2048
    cpus: int = 2
    ssh_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    dns_port: int = field(default_factory=free_port)
    reboots: int = 0
    # A host loopback port the guest reaches at SERVER_ADDRESS:80 (0: none).
    server_port: int = 0
    # The disk's size, as the SD card or SSD the image is written to (0: the image's).
    disk_mb: int = 0

    @property
    def disk(self) -> Path:
        """Return this machine's own copy of the disk image."""
        return self.run_dir / "disk.img"

    def address(self, port: int) -> tuple[str, int]:
        """Return the forwarded loopback port reaching the guest's PORT."""
        forwarded = {22: self.ssh_port, 8080: self.web_port, 53: self.dns_port}
        return "127.0.0.1", forwarded[port]

    def copy_disk(self) -> None:
        """Give this machine a sparse copy of the pristine image and its own UEFI variables."""
        if not self.disk.exists():
            subprocess.run(
                [
                    "cp",
                    "--sparse=always",
                    str(self.folder / f"preau-{self.arch}.img"),
                    str(self.disk),
                ],
                check=True,
            )
            if self.disk_mb:
                os.truncate(self.disk, self.disk_mb * 1024 * 1024)
            shutil.copy(AAVMF_VARS if self.arch == "arm64" else OVMF_VARS, self.firmware_vars)

    @property
    def arch(self) -> str:
        """Return the architecture of this machine's image (and so of its QEMU)."""
        return image_arch(self.folder)

    @property
    def firmware_vars(self) -> Path:
        """Return this machine's own copy of its UEFI variables."""
        return self.run_dir / "UEFI_VARS.fd"

    def board(self) -> list[str]:
        """Return QEMU's command for this image's machine, up to its disk and network."""
        if self.arch == "arm64":
            # cortex-a72: a Raspberry Pi 4's core. TCG on an x86 host.
            return [
                "qemu-system-aarch64", "-machine", "virt", "-accel", "tcg,thread=multi",
                "-cpu", "cortex-a72",
                "-drive", f"if=pflash,format=raw,readonly=on,file={AAVMF_CODE}",
                "-drive", f"if=pflash,format=raw,file={self.firmware_vars}",
            ]  # fmt: skip
        return [
            "qemu-system-x86_64", "-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max",
            "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,file={self.firmware_vars}",
        ]  # fmt: skip

    def power_on(self) -> None:
        """Start QEMU on the disk (without waiting for anything)."""
        self.copy_disk()
        forwards = (
            f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22,"
            f"hostfwd=tcp:127.0.0.1:{self.web_port}-:8080,"
            # DNS over TCP: with restrict=on, QEMU drops the guest's UDP replies.
            f"hostfwd=tcp:127.0.0.1:{self.dns_port}-:53"
        )
        if self.server_port:
            # Each guest connection runs the relay; restrict=on still blocks the rest.
            relay = Path(__file__).with_name("relay.py")
            forwards += f",guestfwd=tcp:{SERVER_ADDRESS}:80-cmd:python3 {relay} {self.server_port}"
        with self.console.open("ab") as console:
            console.write(b"\n=== power on ===\n")
        self.process = subprocess.Popen(
            [
                *self.board(), "-m", str(self.memory_mb), "-smp", str(self.cpus),
                "-display", "none", "-monitor", "none", "-nodefaults", "-no-reboot",
                "-serial", f"file:{self.console}.part",
                "-drive", f"file={self.disk},if=virtio,format=raw,cache=writeback",
                "-nic", f"user,model=virtio-net-pci,restrict=on,{forwards}",
            ],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def start(self) -> None:
        """Boot the image and wait until root can log in and systemd has started."""
        self.power_on()
        self.wait_for_ssh(seconds=900)

    def keep_on(self) -> None:
        """Power the machine on again if the guest rebooted (QEMU exited by itself)."""
        if self.process is not None and self.process.poll() is not None:
            assert self.process.returncode == 0, f"QEMU failed\n{self.tail()}"
            self._keep_console()
            self.reboots += 1
            self.power_on()

    def wait_for_ssh(self, seconds: float = 900) -> None:
        """Wait until root can log in and systemd finished starting (across reboots)."""
        self.wait_until("systemctl is-system-running --wait; test $? -le 1", seconds)

    def power_cut(self) -> None:
        """Cut the power: QEMU dies at once, the guest flushes nothing more."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=30)
        self.process = None
        self._keep_console()

    def stop(self) -> None:
        """Power the machine off."""
        super().stop()
        self._keep_console()

    def _keep_console(self) -> None:
        part = Path(f"{self.console}.part")
        if part.exists():
            with self.console.open("ab") as console:
                console.write(part.read_bytes())
            part.unlink()

    def dns_answers(self, seconds: float = 10) -> bool:
        """Return whether the filter answers the gate's question (over TCP: see power_on)."""
        import dnslib

        query = dnslib.DNSRecord.question("preau-gate.invalid.", "A")
        host, port = self.address(53)
        try:
            reply = dnslib.DNSRecord.parse(query.send(host, port, tcp=True, timeout=seconds))
        except (OSError, dnslib.DNSError, struct.error):
            # struct.error: QEMU's forwarded port took the connection and closed it
            # empty (the guest is rebooting), which dnslib does not expect.
            return False
        return reply.header.id == query.header.id and reply.header.rcode in (0, 3)

    def web_status(self) -> int | None:
        """Return the status of the web UI's /healthz from the host (None: no answer)."""
        host, port = self.address(8080)
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=30) as response:
                return int(response.status)
        except OSError:
            return None

    def console_text(self) -> str:
        """Return everything the console said, over every power-on."""
        text = ""
        for path in (self.console, Path(f"{self.console}.part")):
            if path.exists():
                text += path.read_text(errors="replace")
        return text

    def tail(self, lines: int = 60) -> str:
        """Return the end of the console (this boot's too), for failure messages."""
        return "\n".join(self.console_text().splitlines()[-lines:])

    def offer_command(self, bundle: str) -> str:
        """Return the shell command that offers BUNDLE (on the guest) and drops the copy."""
        return f"{PREAU} update offer {bundle} && rm -f {bundle}"

    def approve_command(self) -> str:
        """Return the shell command by which the centre's policy approves the offered bundle."""
        python = "/usr/lib/preau/venv/bin/python"
        return f"runuser -u preau -- {python} -c '{APPROVE_OFFERED.decode()}'"

    def wait_until(self, command: str, seconds: float) -> str:
        """Wait until COMMAND succeeds in the guest (across reboots); return its output."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process is not None, "the machine is off"
            self.keep_on()
            try:
                code, out = self.ssh(command, check=False, timeout=120)
            except subprocess.TimeoutExpired:
                code, out = -1, ""
            if code == 0:
                return out
            time.sleep(5)
        raise AssertionError(f"{command}: not true in {seconds} s\n{self.tail()}")

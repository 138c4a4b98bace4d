"""A booted Debian with systemd as PID 1, for the package's tests.

The disk (``image-build/vm/make-image``) is made once per Debian suite, image
recipe and package dependency list, and kept under ``/var/tmp/preau-vm/``.
Every test module boots its own copy, so each starts from a pristine system.

The disk boots two ways:

- :class:`Container` boots its systemd in ``systemd-nspawn`` (its own PID,
  mount, network, IPC and UTS namespaces; the host's kernel). The tests of the
  package's life run there, at native speed.
- :class:`VirtualMachine` boots it under QEMU with its own kernel. These hosts'
  ``/dev/kvm`` is ``kvm_pvm``, which only runs guest kernels built for PVM: a
  stock Debian kernel hangs in its decompressor. So QEMU emulates (TCG), about
  twenty times slower: enough to show that the disk, with Préau installed,
  boots as a machine and brings every unit up, not to time anything.

Either way the guest's only network is one the test makes: a veth pair to the
container, or QEMU's user network with ``restrict=on`` (it reaches nothing
outside, and the host reaches it through forwarded loopback ports).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.conftest import REPO

MAKE_IMAGE = REPO / "image-build" / "vm" / "make-image"
BUILD_DEB = REPO / "image-build" / "deb" / "build"
CACHE = Path("/var/tmp/preau-vm")


def build_deb(out: Path, source: Path = REPO) -> Path:
    """Build Préau's package from SOURCE into OUT and return its path."""
    result = subprocess.run(
        [str(BUILD_DEB), str(source), str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return Path(result.stdout.strip().splitlines()[-1])


def build_deb_in(out: Path, suite: str, arch: str, source: Path = REPO) -> Path:
    """Build the package in a Debian of SUITE and ARCH (qemu-user for another ARCH)."""
    result = subprocess.run(
        [str(BUILD_DEB.with_name("build-in")), suite, arch, str(source), str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return Path(result.stdout.strip().splitlines()[-1])


def deb_field(deb: Path, name: str) -> str:
    """Return one control field of a package file."""
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


def image(suite: str, deb: Path) -> Path:
    """Return the folder of a disk for SUITE able to install DEB, making it if needed."""
    key = hashlib.sha256()
    key.update(suite.encode())
    key.update(MAKE_IMAGE.read_bytes())
    key.update(deb_field(deb, "Depends").encode())
    folder = CACHE / f"{suite}-{key.hexdigest()[:16]}"
    if (folder / "disk.raw").exists():
        return folder
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(folder.name + ".partial")
    subprocess.run(["rm", "-rf", str(partial)], check=True)
    result = subprocess.run(
        [str(MAKE_IMAGE), suite, str(partial), str(deb)],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    partial.rename(folder)
    return folder


def free_port() -> int:
    """Return a loopback TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The pupils' Wi-Fi of a container with a phone (see Container.phone_ns).
BYOD_ADDRESS = "10.77.0.1"
PHONE_ADDRESS = "10.77.0.50"
PHONE_MAC = "02:00:00:77:00:50"


@dataclass
class Guest:
    """What both ways of booting share: a disk copy, root's SSH login, addresses."""

    folder: Path
    run_dir: Path
    process: subprocess.Popen[bytes] | None = None
    # Once the first run made the box's certificate: its web UI is HTTPS, trusted through this.
    web_tls: ssl.SSLContext | None = None

    @property
    def disk(self) -> Path:
        """Return this guest's own copy of the disk."""
        return self.run_dir / "disk.raw"

    @property
    def console(self) -> Path:
        """Return the file the guest's console is written to."""
        return self.run_dir / "console.log"

    def address(self, port: int) -> tuple[str, int]:
        """Return where the host reaches the guest's PORT."""
        raise NotImplementedError

    def copy_disk(self) -> None:
        """Give this guest a sparse copy of the pristine disk, once."""
        if not self.disk.exists():
            subprocess.run(
                ["cp", "--sparse=always", str(self.folder / "disk.raw"), str(self.disk)],
                check=True,
            )

    def wait_for_ssh(self, seconds: float = 240) -> None:
        """Wait until root can log in over SSH and systemd finished starting."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process is not None
            assert self.process.poll() is None, self.tail()
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.ssh("systemctl is-system-running --wait", check=False, timeout=120)[0]
                if code in (0, 1):  # running, or degraded (clamd has no signatures offline)
                    return
            time.sleep(1)
        raise AssertionError(f"the guest did not boot in {seconds} s\n{self.tail()}")

    def ssh(
        self, command: str, *, check: bool = True, timeout: float = 600, stdin: bytes | None = None
    ) -> tuple[int, str]:
        """Run COMMAND as root in the guest; return its exit code and output."""
        host, port = self.address(22)
        result = subprocess.run(
            [
                "ssh",
                "-q",
                "-i",
                str(self.folder / "id_ed25519"),
                "-p",
                str(port),
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=5",
                f"root@{host}",
                command,
            ],
            input=stdin,
            capture_output=True,
            check=False,
            timeout=timeout,
        )
        output = (result.stdout + result.stderr).decode(errors="replace")
        if check:
            assert result.returncode == 0, f"{command}: exit {result.returncode}\n{output}"
        return result.returncode, output

    def put(self, source: Path, target: str) -> None:
        """Copy a host file into the guest."""
        self.ssh(f"cat > {shlex.quote(target)}", stdin=source.read_bytes())

    def tail(self, lines: int = 40) -> str:
        """Return the end of the console, for failure messages."""
        if not self.console.exists():
            return ""
        return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> None:
        """Boot the guest and wait until it is up."""
        raise NotImplementedError

    def stop(self) -> None:
        """Power the guest off."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None


@dataclass
class Container(Guest):
    """The disk's systemd booted by systemd-nspawn, reached over a veth pair."""

    name: str = field(default_factory=lambda: f"preau{free_port()}")
    subnet: int = field(default_factory=lambda: free_port() % 250 + 1)
    # A network namespace standing for a pupil's phone on the box's second
    # interface, byod0 (the pupils' Wi-Fi): "" for none.
    phone_ns: str = ""
    # A cgroup (v1 memory hierarchy) the container runs in, for a memory cap.
    cgroup: Path | None = None
    spawned_at: float = 0.0

    @property
    def root(self) -> Path:
        """Return where the disk copy is mounted on the host."""
        return self.run_dir / "root"

    @property
    def guest_ip(self) -> str:
        """Return the container's address on its veth."""
        return f"10.213.{self.subnet}.2"

    def address(self, port: int) -> tuple[str, int]:
        """Return where the host reaches the container's PORT: its own address."""
        return self.guest_ip, port

    def start(self) -> None:
        """Mount the disk copy, give the container its address and boot it."""
        self.copy_disk()
        self.root.mkdir(exist_ok=True)
        if not (self.root / "etc").exists():
            subprocess.run(["mount", "-o", "loop", str(self.disk), str(self.root)], check=True)
        network = self.root / "etc/systemd/network/10-host0.network"
        network.write_text(
            f"[Match]\nName=host0\n\n[Network]\nAddress={self.guest_ip}/30\n"
            f"Gateway=10.213.{self.subnet}.1\n"
        )
        if self.phone_ns:
            (self.root / "etc/systemd/network/20-byod0.network").write_text(
                f"[Match]\nName=byod0\n\n[Network]\nAddress={BYOD_ADDRESS}/16\n"
                "ConfigureWithoutCarrier=yes\n"
            )
        with self.console.open("ab") as console:  # the child keeps its own copy
            self.process = self._spawn(console)
        host_side = f"ve-{self.name}"[:15]
        deadline = time.monotonic() + 30
        while subprocess.run(["ip", "link", "show", host_side], capture_output=True).returncode:
            assert time.monotonic() < deadline, self.tail()
            assert self.process.poll() is None, self.tail()
            time.sleep(0.2)
        subprocess.run(
            ["ip", "addr", "replace", f"10.213.{self.subnet}.1/30", "dev", host_side], check=True
        )
        subprocess.run(["ip", "link", "set", host_side, "up"], check=True)
        if self.phone_ns:
            self._attach_phone()
        self.wait_for_ssh()

    def _attach_phone(self) -> None:
        """Put byod0's other end in the phone's namespace, with the same MAC every boot."""
        phone_side = f"vp-{self.name}"[:15]
        for argv in (
            ["ip", "link", "set", phone_side, "address", PHONE_MAC],
            ["ip", "link", "set", phone_side, "netns", self.phone_ns],
            ["ip", "-n", self.phone_ns, "addr", "add", f"{PHONE_ADDRESS}/24", "dev", phone_side],
            ["ip", "-n", self.phone_ns, "link", "set", phone_side, "up"],
            ["ip", "-n", self.phone_ns, "link", "set", "lo", "up"],
            ["ip", "-n", self.phone_ns, "route", "replace", "default", "via", BYOD_ADDRESS],
        ):
            subprocess.run(argv, check=True, capture_output=True)

    def _spawn(self, console: IO[bytes]) -> subprocess.Popen[bytes]:
        """Start systemd-nspawn booting the mounted disk (in ``cgroup`` when given)."""
        procs = self.cgroup / "cgroup.procs" if self.cgroup is not None else None

        def enter_cgroup() -> None:
            if procs is not None:
                procs.write_text(str(os.getpid()))

        self.spawned_at = time.monotonic()
        return subprocess.Popen(
            [
                "systemd-nspawn",
                "--quiet",
                "--boot",
                "--register=no",
                "--keep-unit",
                f"--machine={self.name}",
                f"--directory={self.root}",
                "--network-veth",
                *([f"--network-veth-extra=vp-{self.name}:byod0"] if self.phone_ns else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            preexec_fn=enter_cgroup,
        )

    def reboot(self) -> None:
        """Reboot the container: systemd shuts down, nspawn exits 133, boot it again."""
        self.ssh("systemctl reboot", check=False, timeout=60)
        assert self.process is not None
        code = self.process.wait(timeout=120)
        assert code == 133, (code, self.tail())
        self.process = None
        self.start()

    def stop(self) -> None:
        """Power the container off and unmount its disk."""
        super().stop()
        subprocess.run(["umount", str(self.root)], capture_output=True, check=False)


@dataclass
class VirtualMachine(Guest):
    """The disk booted by QEMU with its own kernel (emulated: see the module's note)."""

    memory_mb: int = 2048
    cpus: int = 2
    ssh_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)

    def address(self, port: int) -> tuple[str, int]:
        """Return the forwarded loopback port reaching the guest's PORT."""
        forwarded = {22: self.ssh_port, 8080: self.web_port}
        return "127.0.0.1", forwarded[port]

    def start(self) -> None:
        """Boot the disk copy with the kernel and initrd beside the image."""
        self.copy_disk()
        forwards = (
            f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22,hostfwd=tcp:127.0.0.1:{self.web_port}-:8080"
        )
        self.process = subprocess.Popen(
            [
                "qemu-system-x86_64",
                "-accel",
                "tcg,thread=multi",
                "-cpu",
                "max",
                "-m",
                str(self.memory_mb),
                "-smp",
                str(self.cpus),
                "-display",
                "none",
                "-monitor",
                "none",
                "-serial",
                f"file:{self.console}",
                "-kernel",
                str(self.folder / "vmlinuz"),
                "-initrd",
                str(self.folder / "initrd.img"),
                "-append",
                "root=/dev/vda rw console=ttyS0",
                "-drive",
                f"file={self.disk},if=virtio,format=raw,cache=unsafe",
                "-nic",
                f"user,model=virtio-net-pci,restrict=on,{forwards}",
            ],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_for_ssh(seconds=600)

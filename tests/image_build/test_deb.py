"""The Debian package: one command builds it, twice the same bytes, lintian-clean.

The package itself is booted and installed in ``test_vm_install.py``; here
it is only built and read.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.image_build.box import SUITE
from tests.image_build.machine import build_deb, build_deb_in, deb_field

pytestmark = pytest.mark.timeout(1800)


def test_two_builds_of_one_commit_are_the_same_bytes(preau_deb: Path, tmp_path: Path) -> None:
    again = build_deb(tmp_path / "again")
    assert again.name == preau_deb.name
    if again.read_bytes() != preau_deb.read_bytes():
        # Say which files differ, not which byte of the archive.
        for deb, folder in ((preau_deb, tmp_path / "first"), (again, tmp_path / "second")):
            subprocess.run(["dpkg-deb", "-R", str(deb), str(folder)], check=True)
        differ = subprocess.run(
            ["diff", "-rq", str(tmp_path / "first"), str(tmp_path / "second")],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        raise AssertionError(f"two builds differ:\n{differ or 'in the archive only'}")


def test_lintian_passes_with_only_the_justified_overrides(preau_deb: Path) -> None:
    result = subprocess.run(
        ["lintian", "--fail-on", "error,warning", "--tag-display-limit", "0", str(preau_deb)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    overrides = (
        Path(__file__).parents[2] / "image-build" / "deb" / "lintian-overrides"
    ).read_text()
    # Every override says why, in the comment just above it (or above its group).
    lines = overrides.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("preau:"):
            above = index - 1
            while lines[above].startswith("preau:"):
                above -= 1
            assert lines[above].startswith("#"), line


def test_it_pins_the_interpreter_and_depends_on_the_services_it_drives(
    preau_deb: Path, tmp_path: Path
) -> None:
    depends = [item.strip().split(" ")[0] for item in deb_field(preau_deb, "Depends").split(",")]
    minor = Path("/usr/bin/python3").resolve().name  # python3.11 on Debian 12
    assert minor in depends
    for service in (
        "unbound",
        "dns-root-data",
        "dnsmasq-base",
        "nftables",
        "restic",
        "clamav-daemon",
    ):
        assert service in depends
    subprocess.run(["dpkg-deb", "-x", str(preau_deb), str(tmp_path)], check=True)
    venv = tmp_path / "usr/lib/preau/venv"
    config = (venv / "pyvenv.cfg").read_text()
    assert f"executable = /usr/bin/{minor}" in config
    assert "include-system-site-packages = false" in config
    assert (venv / "bin" / minor).readlink() == Path(f"/usr/bin/{minor}")
    assert (venv / "bin/preau").read_text().startswith(f"#!/usr/lib/preau/venv/bin/{minor}\n")
    # No byte code (postinst writes it for the installed interpreter) and no
    # trace of the build machine's paths.
    assert not list(venv.rglob("__pycache__"))
    grep = subprocess.run(
        ["grep", "-rl", "--binary-files=text", "/var/tmp/preau-deb", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert grep.stdout == ""
    # The commented defaults that postinst copies to /etc/preau/preau.toml.
    defaults = (tmp_path / "usr/share/preau/preau.toml").read_text()
    assert defaults.startswith("# Préau configuration")
    assert (tmp_path / "etc/unbound/unbound.conf.d/preau.conf").read_text().count("@5335") == 2


# ELF e_machine of each architecture (the ELF specification's numbers).
ELF_MACHINES = {"arm64": 0xB7, "amd64": 0x3E}


def _elf_machine(path: Path) -> int | None:
    head = path.read_bytes()[:20]
    if head[:4] != b"\x7fELF":
        return None
    return int.from_bytes(head[18:20], "little")


def test_the_arm64_package_is_built_for_arm64_and_its_venv_runs_there(
    preau_deb: Path, tmp_path: Path
) -> None:
    deb = build_deb_in(tmp_path / "arm64", SUITE, "arm64")
    assert deb.name.endswith("_arm64.deb")
    assert deb_field(deb, "Architecture") == "arm64"
    # The same pins and dependencies as this machine's package, but for arm64.
    assert deb_field(deb, "Version") == deb_field(preau_deb, "Version")
    native = deb_field(preau_deb, "Depends").split(", ")
    foreign = deb_field(deb, "Depends").split(", ")
    assert [d for d in native if d.startswith("python3.")] == [
        d for d in foreign if d.startswith("python3.")
    ]
    unpacked = tmp_path / "unpacked"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    machines = {
        path.relative_to(unpacked): _elf_machine(path)
        for path in unpacked.rglob("*")
        if path.is_file() and not path.is_symlink()
    }
    compiled = {path: machine for path, machine in machines.items() if machine is not None}
    assert any("_ldap" in path.name for path in compiled), "python-ldap built for arm64"
    wrong = {str(path) for path, machine in compiled.items() if machine != ELF_MACHINES["arm64"]}
    assert not wrong, wrong
    # In the arm64 Debian it was built in: the venv loads its compiled
    # modules and Préau reads its configuration.
    root = Path("/var/tmp") / f"preau-build-{SUITE}-arm64"
    inside = Path("/var/tmp/preau-check")
    subprocess.run(["rm", "-rf", str(root / inside.relative_to("/"))], check=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root / inside.relative_to("/"))], check=True)
    python = inside / "usr/lib/preau/venv/bin/python3"
    ran = subprocess.run(
        ["chroot", str(root), str(python), "-c",
         "import platform, ldap, argon2, cryptography, pydantic_core\n"
         "from appliance.config import build_config\n"
         "print(platform.machine(), build_config().site.data_dir)"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.split() == ["aarch64", "/var/lib/preau"]

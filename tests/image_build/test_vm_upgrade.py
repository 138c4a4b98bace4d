"""Upgrades on a booted Debian: Préau's previous version to this one, and python3 under it.

The previous version is the package built from an earlier landed commit,
``PREVIOUS`` (its state DB is one migration behind this checkout's). The
interpreter's point release is made here: Debian's own python3.X packages,
from the disk's apt cache, repacked with a higher version, so that dpkg
replaces the interpreter's files under the running services exactly as a
point release does.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.state.db import schema_version
from tests.conftest import REPO
from tests.image_build.box import (
    UNITS,
    journal,
    main_pid,
    open_to_host,
    serving,
    units_state,
    wait_until,
    web_login,
)
from tests.image_build.machine import Container, build_deb

pytestmark = pytest.mark.timeout(1800)

# Stop 23's landed commit, the first with a package (built from its own
# packaging files): its schema has 28 migrations, this checkout more.
PREVIOUS = "c53f71d"
PASSWORD = "Cartable-Rouge-2026"


@pytest.fixture(scope="module")
def previous_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the package of the previous version (an earlier commit of this repository)."""
    source = tmp_path_factory.mktemp("previous") / "source"
    clone = subprocess.run(
        ["git", "clone", "-q", "--no-checkout", str(REPO), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert clone.returncode == 0, clone.stderr
    checkout = subprocess.run(
        ["git", "-C", str(source), "checkout", "-q", PREVIOUS],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checkout.returncode == 0, f"the upgrade test needs {PREVIOUS} in the history"
    return build_deb(tmp_path_factory.mktemp("previous-deb"), source=source)


@pytest.fixture(scope="module")
def machine(
    disk: Path, previous_deb: Path, preau_deb: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    """Boot a pristine Debian with both packages copied in."""
    container = Container(folder=disk, run_dir=tmp_path_factory.mktemp("guest"))
    try:
        container.start()
        container.put(previous_deb, "/var/tmp/previous.deb")
        container.put(preau_deb, "/var/tmp/current.deb")
        yield container
    finally:
        container.stop()


def schema(vm: Container) -> int:
    """Return the state DB's schema version, read by Python's sqlite3 in the guest."""
    code = (
        "import sqlite3; db = sqlite3.connect('/var/lib/preau/state.db');"
        " print(db.execute('PRAGMA user_version').fetchone()[0])"
    )
    return int(vm.ssh(f'/usr/lib/preau/venv/bin/python -c "{code}"')[1].strip())


def test_apt_upgrade_from_the_previous_version_migrates_and_keeps_the_data(
    machine: Container, previous_deb: Path, preau_deb: Path
) -> None:
    apt = "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends"
    machine.ssh(f"{apt} /var/tmp/previous.deb")
    machine.ssh(
        "preau --config /etc/preau/preau.toml user add directrice --role referent "
        f"--name 'Mme Directrice' --password '{PASSWORD}'"
    )
    open_to_host(machine)
    machine.ssh("systemctl restart preau.target")
    wait_until(lambda: serving(machine), 90)
    old_schema = schema(machine)
    assert old_schema < schema_version()
    pids = {unit: main_pid(machine, unit) for unit in units_state(machine)}

    machine.ssh(f"{apt} /var/tmp/current.deb")

    version = machine.ssh("dpkg-query -W -f '${Version}' preau")[1]
    assert (
        version
        == subprocess.run(
            ["dpkg-deb", "-f", str(preau_deb), "Version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    assert schema(machine) == schema_version()
    # Every service runs the new version: each one was restarted.
    wait_until(lambda: set(units_state(machine).values()) == {"active"}, 90)
    for unit, before in pids.items():
        assert main_pid(machine, unit) != before, unit
    # The units the previous version had and this one merged into preau-web are
    # stopped and their enablement gone: no process left behind, no dangling link.
    loaded = machine.ssh("systemctl list-units --all --plain --no-legend 'preau-*'")[1]
    assert sorted(line.split()[0] for line in loaded.splitlines()) == sorted(UNITS), loaded
    wants = machine.ssh("ls /etc/systemd/system/preau.target.wants")[1].split()
    assert sorted(wants) == sorted(UNITS), wants
    wait_until(lambda: serving(machine), 90)
    # The school's data and the referent's edited config were kept.
    assert web_login(machine, "directrice", PASSWORD) == 200
    assert 'host = "0.0.0.0"' in machine.ssh("cat /etc/preau/preau.toml")[1]


def test_a_python_point_release_under_it_keeps_every_service_running(
    machine: Container,
) -> None:
    minor = machine.ssh("readlink /usr/lib/preau/venv/bin/python")[1].strip()  # python3.X
    installed = machine.ssh(f"dpkg-query -W -f '${{Version}}' {minor}")[1].strip()
    point = f"{installed}+preau1"
    # Debian's own packages of the interpreter, each at a higher version.
    packages = [minor, f"{minor}-minimal", f"lib{minor}-minimal", f"lib{minor}-stdlib"]
    script = f"""set -e
cd /var/tmp && rm -rf point && mkdir point && cd point
for p in {" ".join(packages)}; do
    deb=$(ls /var/cache/apt/archives/${{p}}_*.deb | head -n 1)
    dpkg-deb -R "$deb" "$p"
    sed -i -e 's/^Version: .*/Version: {point}/' \\
        -e 's/(= {installed})/(= {point})/g' "$p/DEBIAN/control"
    dpkg-deb --build "$p" "$p.deb" >/dev/null
done
dpkg -i *.deb >/dev/null
"""
    machine.ssh(script)
    assert machine.ssh(f"dpkg-query -W -f '${{Version}}' {minor}")[1].strip() == point
    # The services start again on the new interpreter, from the same venv.
    machine.ssh("systemctl restart preau.target")
    wait_until(lambda: set(units_state(machine).values()) == {"active"}, 90)
    wait_until(lambda: serving(machine), 90)
    assert web_login(machine, "directrice", PASSWORD) == 200, journal(machine)

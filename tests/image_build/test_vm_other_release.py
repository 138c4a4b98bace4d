"""The package of the other supported Debian release, booted too (issue #15 scope 2: 12 and 13).

The other tests boot this machine's release with the package built here. CI
runs Debian 12, so Debian 13 would break unseen: this module builds Debian
13's package in a Debian 13 system (``image-build/deb/build-in``, the same
build script), makes a Debian 13 disk, boots it, installs the package, fills
the first-run page and checks the box serves, survives a ``kill -9`` and a
reboot. On a Debian 13 machine, the other release is Debian 12.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image_build.box import (
    REFERENT_PASSWORD,
    SUITE,
    UNITS,
    first_run,
    journal,
    main_pid,
    open_to_host,
    serving,
    units_state,
    wait_until,
    web_login,
)
from tests.image_build.machine import Container, build_deb_in, deb_field, image

pytestmark = pytest.mark.timeout(3600)

OTHER = {"bookworm": ("trixie", "13"), "trixie": ("bookworm", "12")}[SUITE]


@pytest.fixture(scope="module")
def other_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the other release's package from this checkout."""
    return build_deb_in(tmp_path_factory.mktemp("other-deb"), OTHER[0], "amd64")


@pytest.fixture(scope="module")
def other_machine(other_deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """Boot a pristine disk of the other release, with its package copied in."""
    container = Container(folder=image(OTHER[0], other_deb), run_dir=tmp_path_factory.mktemp("o"))
    try:
        container.start()
        container.put(other_deb, f"/var/tmp/{other_deb.name}")
        yield container
    finally:
        container.stop()


def test_the_other_release_s_package_pins_its_own_interpreter(other_deb: Path) -> None:
    assert deb_field(other_deb, "Version").endswith(f"~deb{OTHER[1]}")
    python = {"13": "python3.13", "12": "python3.11"}[OTHER[1]]
    assert python in [d.split(" ")[0] for d in deb_field(other_deb, "Depends").split(", ")]


def test_it_installs_is_set_up_and_serves_through_kill_9_and_a_reboot(
    other_machine: Container, other_deb: Path
) -> None:
    machine = other_machine
    machine.ssh(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
        f"/var/tmp/{other_deb.name}"
    )
    assert OTHER[0] in machine.ssh("cat /etc/os-release")[1]
    wait_until(lambda: set(units_state(machine).values()) == {"active"}, 90)
    open_to_host(machine)
    machine.ssh("systemctl restart preau.target")
    wait_until(lambda: serving(machine), 90)
    shown = machine.ssh("preau first-run begin")[1]
    code = re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", shown)
    assert code is not None, shown
    answer = first_run(machine, code.group(0))
    assert "Mise en service faite" in answer, answer
    wait_until(
        lambda: serving(machine) and web_login(machine, "referente", REFERENT_PASSWORD) == 200,
        90,
    )
    for unit in ("preau-web.service", "preau-filter.service"):
        before = main_pid(machine, unit)
        machine.ssh(f"kill -9 {before}")
        wait_until(
            lambda unit=unit, before=before: (
                main_pid(machine, unit) not in (0, before) and serving(machine)
            ),
            10,
        )
    machine.reboot()
    wait_until(lambda: serving(machine), 90)
    assert set(units_state(machine).values()) == {"active"}, journal(machine)
    assert web_login(machine, "referente", REFERENT_PASSWORD) == 200
    assert len(UNITS) == len(units_state(machine))

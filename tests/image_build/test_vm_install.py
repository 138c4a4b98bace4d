"""The package on a booted Debian: install, serve, survive kill -9 and reboot, remove, purge.

One booted Debian of this host's release (systemd as PID 1 in a container,
see ``machine.py``) lives for the whole module, and the tests run in the order of a
box's life: each one starts from where the previous one left it. The guest
has no network beyond a veth pair to the host, so `apt install`
resolves the dependencies from the disk's apt cache, as an offline box would.
"""

from __future__ import annotations

import json
import platform
import re
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import RCODE

from bench.gen_ut1 import generate
from tests.captive_portal.conftest import phone_request
from tests.image_build.box import (
    DENIED,
    PORTAL,
    REFERENT_PASSWORD,
    UNITS,
    addresses,
    ask,
    first_run,
    journal,
    main_pid,
    open_to_host,
    portal_answers,
    serving,
    units_state,
    wait_until,
    web_login,
    web_status,
)
from tests.image_build.machine import PHONE_MAC, Container, VirtualMachine

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def machine(
    preau_deb: Path, disk: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    """Boot a pristine Debian of this host's release, with the package copied in.

    Its second interface, byod0, is the pupils' Wi-Fi; a network namespace on
    the other end stands for a pupil's phone.
    """
    container = Container(folder=disk, run_dir=tmp_path_factory.mktemp("guest"))
    container.phone_ns = f"phone-{container.name}"
    subprocess.run(["ip", "netns", "add", container.phone_ns], check=True)
    try:
        container.start()
        container.put(preau_deb, f"/var/tmp/{preau_deb.name}")
        yield container
    finally:
        container.stop()
        subprocess.run(["ip", "netns", "del", container.phone_ns], check=False)


def test_apt_install_creates_the_user_the_config_and_starts_every_unit(
    machine: Container, preau_deb: Path
) -> None:
    _, output = machine.ssh(
        f"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
        f"/var/tmp/{preau_deb.name}"
    )
    # The dependencies came with it, from the disk.
    assert "unbound" in output
    # A new box waits for its first run, with a code for the person who installed it.
    assert re.search(r"Code d'installation : [A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", output), output
    assert "clamav-daemon" in output
    # The system user, its data folder and the commented defaults.
    assert machine.ssh("getent passwd preau")[1].split(":")[6].strip() in (
        "/usr/sbin/nologin",
        "/bin/false",
    )
    assert machine.ssh("stat -c '%U %a' /var/lib/preau")[1].strip() == "preau 750"
    assert machine.ssh("cmp /etc/preau/preau.toml /usr/share/preau/preau.toml", check=False)[0] == 0
    assert machine.ssh("stat -c '%U:%G %a' /etc/preau/preau.toml")[1].strip() == "root:preau 640"
    # Every unit enabled, and running.
    enabled = machine.ssh("systemctl is-enabled preau.target " + " ".join(UNITS))[1].split()
    assert enabled == ["enabled"] * (len(UNITS) + 1)
    wait_until(lambda: set(units_state(machine).values()) == {"active"}, 60)
    # No Préau process runs as root.
    users = machine.ssh("ps -eo user:20,args | grep '[v]env/bin/preau' | awk '{print $1}'")[1]
    assert users.split(), users
    assert set(users.split()) == {"preau"}, users
    # Each running unit's exposure, as the booted systemd scores it (2.0 at most).
    for unit in UNITS:
        code, output = machine.ssh(
            f"systemd-analyze security --threshold=20 --no-pager {unit}", check=False
        )
        score = float(output.strip().splitlines()[-1].split()[-3])
        assert code == 0, output
        assert score <= 2.0, (unit, score)
    # unbound took Préau's drop-in: it answers on 5335 (the filter's upstream).
    assert machine.ssh("ss -lnu | grep -c '127.0.0.1:5335'")[1].strip() != "0"


def test_the_web_ui_answers_from_the_host_and_dns_filtering_answers(machine: Container) -> None:
    open_to_host(machine)
    machine.ssh("preau config check /etc/preau/preau.toml")
    machine.ssh("systemctl restart preau.target")
    wait_until(lambda: serving(machine), 60)
    denied = ask(machine, DENIED)
    assert denied is not None
    assert denied.header.rcode == RCODE.NXDOMAIN
    assert addresses(denied) == []


def test_a_ut1_list_imported_on_the_box_blocks_its_names(
    machine: Container, tmp_path: Path
) -> None:
    # The list compiler runs on the box's own venv (numpy and its OpenBLAS,
    # which a stripped build once broke).
    generate(tmp_path / "ut1", scale=0.002)
    archive = tmp_path / "ut1.tar"
    subprocess.run(["tar", "-C", str(tmp_path / "ut1"), "-cf", str(archive), "blacklists"],
                   check=True)  # fmt: skip
    machine.put(archive, "/var/tmp/ut1.tar")
    machine.ssh("mkdir -p /var/tmp/ut1 && tar -C /var/tmp/ut1 -xf /var/tmp/ut1.tar"
                " && chown -R preau: /var/tmp/ut1")  # fmt: skip
    machine.ssh("preau filter import-ut1 /var/tmp/ut1")
    listed = (tmp_path / "ut1/blacklists/adult/domains").read_text().split()[0]

    def blocked() -> bool:
        reply = ask(machine, listed)
        return reply is not None and reply.header.rcode == RCODE.NXDOMAIN

    wait_until(blocked, 30)
    machine.ssh("rm -rf /var/tmp/ut1 /var/tmp/ut1.tar")


def test_a_new_box_serves_only_its_first_run_page_until_the_referent_fills_it(
    machine: Container,
) -> None:
    # Every page leads to the first-run page; the API says why; nobody can log in.
    page = urllib.request.urlopen(f"http://{machine.guest_ip}:8080/dashboard", timeout=5)
    assert page.url.endswith("/premiere-mise-en-service")
    assert "Première mise en service" in page.read().decode()
    assert web_login(machine, "referente", REFERENT_PASSWORD) == 503
    # A wrong install code changes nothing.
    answer = first_run(machine, "AAAA-BBBB-CCCC")
    assert "ce n&#39;est pas le code" in answer, answer
    assert machine.ssh("test -e /var/lib/preau/settings.json", check=False)[0] == 1
    # The code printed at install time (a new one, as `preau first-run begin` gives).
    shown = machine.ssh("preau first-run begin")[1]
    code = re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", shown)
    assert code is not None, shown
    # One cable for the admin LAN and the WAN; byod0 for the pupils' Wi-Fi.
    answer = first_run(machine, code.group(0), pupils_interface="byod0", wan_interface="host0")
    assert "Mise en service faite" in answer, answer
    # Every service restarts on it: the web UI is HTTPS with the box's own CA,
    # the school's referent logs in, and the filter still answers.
    assert machine.web_tls is not None
    wait_until(
        lambda: serving(machine) and web_login(machine, "referente", REFERENT_PASSWORD) == 200, 60
    )
    with urllib.request.urlopen(
        f"https://{machine.guest_ip}:8080/ac-racine.crt", timeout=5, context=machine.web_tls
    ) as served:
        assert ssl.PEM_cert_to_DER_cert(served.read().decode()) == ssl.PEM_cert_to_DER_cert(
            machine.ssh("cat /var/lib/preau/tls/ac-racine.pem")[1]
        )
    settings = json.loads(machine.ssh("cat /var/lib/preau/settings.json")[1])
    assert settings["site"]["schools"][0]["uai"] == "0693456A"
    assert settings["site"]["admin_interface"] == "host0"
    assert settings["portal"] == {"byod_interface": "byod0", "wan_interface": "host0"}
    # The page is gone for good.
    assert web_status(machine, "/premiere-mise-en-service") == 200
    assert (
        "Première mise en service"
        not in urllib.request.urlopen(
            f"https://{machine.guest_ip}:8080/premiere-mise-en-service",
            timeout=5,
            context=machine.web_tls,
        )
        .read()
        .decode()
    )


def test_kill_9_of_each_service_is_restarted_and_serving_within_10_s(machine: Container) -> None:
    for unit in UNITS:
        before = main_pid(machine, unit)
        assert before, unit
        machine.ssh(f"kill -9 {before}")
        took = wait_until(
            lambda unit=unit, before=before: (
                main_pid(machine, unit) not in (0, before) and serving(machine)
            ),
            10,
        )
        assert took <= 10, (unit, took, journal(machine))
    assert set(units_state(machine).values()) == {"active"}


def _phone_is_online(machine: Container) -> bool:
    """Tell whether the portal's nftables sets hold the phone's MAC."""
    ruleset = machine.ssh("nft list ruleset", check=False)[1]
    return PHONE_MAC in ruleset


def test_a_reboot_brings_every_unit_back_with_the_school_s_data_and_portal_sessions(
    machine: Container,
) -> None:
    # The portal on the pupils' Wi-Fi the first run named, open at any hour.
    machine.ssh(
        r"""sed -i -e '/^\[portal\]/,/^\[/ s/^enabled = false/enabled = true/' """
        r"""-e '/^\[portal.roles."pupil"\]/,/^\[/ s/^ends_with_school_day = true/"""
        r"""ends_with_school_day = false/' /etc/preau/preau.toml"""
    )
    machine.ssh("preau user add eleve --role pupil --name 'Léa' --class 6A --password Cahier-2026")
    machine.ssh("systemctl restart preau.target")
    wait_until(lambda: serving(machine) and portal_answers(machine), 60)
    jar = machine.run_dir / "phone-cookies"
    online = phone_request(
        machine.phone_ns, jar, "POST", f"{PORTAL}/login",
        form={"login": "eleve", "password": "Cahier-2026", "charter": "accepted",
              "charter_version": "2026-09"},
        token_page=f"{PORTAL}/login",
    )  # fmt: skip
    assert online.status == 200, online.body + journal(machine)
    assert "Vous êtes connecté·e" in online.body
    assert _phone_is_online(machine)
    assert web_login(machine, "referente", REFERENT_PASSWORD) == 200
    # Root's `preau` ran as the preau user: nothing in the data folder is root's.
    assert machine.ssh("find /var/lib/preau ! -user preau")[1].strip() == ""
    boot_before = machine.ssh("cat /proc/sys/kernel/random/boot_id")[1]
    machine.reboot()
    assert machine.ssh("cat /proc/sys/kernel/random/boot_id")[1] != boot_before
    wait_until(lambda: serving(machine), 60)
    assert set(units_state(machine).values()) == {"active"}, journal(machine)
    assert web_login(machine, "referente", REFERENT_PASSWORD) == 200
    # The kernel's sets are new, the sessions are not: the phone is online
    # again without logging in, and its status page says so.
    wait_until(lambda: _phone_is_online(machine), 60)
    status = phone_request(machine.phone_ns, jar, "GET", f"{PORTAL}/status")
    assert "Vous êtes connecté·e" in status.body, status.body


def test_the_same_disk_boots_as_a_virtual_machine_with_every_unit_up(
    machine: Container, disk: Path
) -> None:
    # Its own kernel this time (QEMU, emulated: see machine.py), on the disk
    # the container left: Préau installed, configured, with its accounts. The
    # machine has one network card: no pupils' Wi-Fi, so no portal.
    machine.ssh(r"sed -i '/^\[portal\]/,/^\[/ s/^enabled = true/enabled = false/' "
                "/etc/preau/preau.toml")  # fmt: skip
    machine.stop()
    vm = VirtualMachine(folder=disk, run_dir=machine.run_dir)
    try:
        vm.start()
        kernel = vm.ssh("uname -r")[1].strip()
        assert kernel != platform.release()
        assert (disk / "vmlinuz").read_bytes().find(kernel.encode()) != -1
        states = lambda: vm.ssh(  # noqa: E731
            "systemctl show -p ActiveState --value " + " ".join(UNITS)
        )[1].split()
        wait_until(lambda: set(states()) == {"active"}, 600)
        host, port = vm.address(8080)
        # Its certificate names the container's address: check the chain, not the
        # name. The pages answer on the admin interface (the container's host0,
        # not this machine's NIC): its liveness answers everywhere.
        context = ssl.create_default_context(
            cadata=vm.ssh("cat /var/lib/preau/tls/ac-racine.pem")[1]
        )
        context.check_hostname = False

        def healthy() -> bool:
            # Units are "active" once started; emulated, the web UI listens later.
            try:
                with urllib.request.urlopen(
                    f"https://{host}:{port}/healthz", timeout=30, context=context
                ) as page:
                    return page.status == 200
            except OSError:
                return False

        wait_until(healthy, 300)
    finally:
        vm.stop()
        machine.start()
    wait_until(lambda: serving(machine), 60)


def test_apt_remove_keeps_the_data_and_a_reinstall_finds_it(
    machine: Container, preau_deb: Path
) -> None:
    machine.ssh("DEBIAN_FRONTEND=noninteractive apt-get remove -y preau")
    assert machine.ssh("pgrep -u preau -f venv/bin/preau", check=False)[0] == 1
    assert machine.ssh("test -e /var/lib/preau/state.db && test -e /etc/preau/preau.toml")[0] == 0
    assert web_status(machine) == 0
    machine.ssh(f"DEBIAN_FRONTEND=noninteractive apt-get install -y /var/tmp/{preau_deb.name}")
    wait_until(lambda: serving(machine), 60)
    assert web_login(machine, "referente", REFERENT_PASSWORD) == 200


def test_apt_purge_leaves_nothing(machine: Container, preau_deb: Path) -> None:
    machine.ssh(f"rm /var/tmp/{preau_deb.name}")
    machine.ssh("DEBIAN_FRONTEND=noninteractive apt-get purge -y preau")
    assert machine.ssh("getent passwd preau", check=False)[0] == 2
    assert machine.ssh("getent group preau", check=False)[0] == 2
    # Nothing named after Préau anywhere on disk (preau, preau-*, preau.*, preau_*),
    # the test's own unbound zone aside.
    leftovers = machine.ssh(
        r"find / -xdev \( -name preau -o -name 'preau[-._]*' \)"
        " -not -path /etc/unbound/unbound.conf.d/preau-test.conf",
        check=False,
    )[1]
    assert leftovers.strip() == "", leftovers
    # (systemctl exits 1 when no unit file matches.)
    units = machine.ssh("systemctl list-unit-files 'preau*' --no-legend", check=False)[1]
    assert units.strip() == "", units
    assert machine.ssh("dpkg -s preau", check=False)[0] == 1

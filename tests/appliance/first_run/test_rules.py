"""The first run's pure parts: who is on the admin LAN, what the form says (#15 scope 3)."""

from __future__ import annotations

import ipaddress

from appliance.first_run.form import DirectoryBinding, LocalReferent, read_kernel_answers
from appliance.first_run.network import Interface, admin_lan_source
from appliance.first_run.state import CODE_ALPHABET, new_code

LAN = Interface("eth1", "aa:bb:cc:00:00:01", True, (ipaddress.ip_interface("192.168.10.2/24"),))
WIFI = Interface("wlan0", "aa:bb:cc:00:00:02", True, (ipaddress.ip_interface("10.77.0.1/16"),))
WAN = Interface("eth0", "aa:bb:cc:00:00:03", True, (ipaddress.ip_interface("90.84.10.9/24"),))
BOX = [WAN, LAN, WIFI]

GOOD = {
    "code": "ABCD-EFGH-JKMN",
    "school_uai": "0693456a",
    "school_name": "Collège Jean Moulin",
    "school_kind": "college",
    "login": "referente",
    "display_name": "Mme Référente",
    "password": "Tableau-Noir-2026",
    "password_again": "Tableau-Noir-2026",
    "admin_interface": "eth1",
    "certificate": "local",
}


def test_the_box_s_console_and_its_private_lans_are_the_admin_lan_before_the_choice() -> None:
    assert admin_lan_source("127.0.0.1", BOX, "")
    assert admin_lan_source("::1", BOX, "")
    assert admin_lan_source("::ffff:192.168.10.40", BOX, "")
    assert admin_lan_source("192.168.10.40", BOX, "")
    assert admin_lan_source("10.77.3.3", BOX, "")


def test_a_public_address_or_a_network_the_box_is_not_on_is_not() -> None:
    assert not admin_lan_source("90.84.10.50", BOX, "")  # on the WAN, but public
    assert not admin_lan_source("192.168.99.4", BOX, "")  # private, not connected
    assert not admin_lan_source("8.8.8.8", BOX, "")
    assert not admin_lan_source(None, BOX, "")
    assert not admin_lan_source("not-an-address", BOX, "")


def test_once_chosen_only_the_admin_interface_s_networks_are() -> None:
    assert admin_lan_source("192.168.10.40", BOX, "eth1")
    assert not admin_lan_source("10.77.3.3", BOX, "eth1")
    assert admin_lan_source("127.0.0.1", BOX, "eth1")


def test_install_codes_are_readable_and_differ() -> None:
    codes = {new_code() for _ in range(50)}
    assert len(codes) == 50
    for code in codes:
        parts = code.split("-")
        assert [len(part) for part in parts] == [4, 4, 4]
        assert set("".join(parts)) <= set(CODE_ALPHABET)
        assert not set("".join(parts)) & set("01OIL")


def test_a_complete_form_gives_the_school_the_referent_and_the_interface() -> None:
    answers, errors = read_kernel_answers(GOOD, ("eth0", "eth1", "wlan0"))
    assert errors == {}
    assert answers is not None
    assert answers.school.uai == "0693456A"
    assert answers.school.kind == "college"
    assert answers.referent == LocalReferent("referente", "Mme Référente", "Tableau-Noir-2026")
    assert answers.admin_interface == "eth1"


def test_every_problem_is_named_by_its_field_at_once() -> None:
    form = {
        **GOOD,
        "code": "",
        "school_uai": "75001",
        "school_kind": "universite",
        "login": "Jean Dupont",
        "password": "Neuf-cara",
        "admin_interface": "eth9",
        "certificate": "upload",
    }
    answers, errors = read_kernel_answers(form, ("eth0", "eth1"))
    assert answers is None
    assert set(errors) == {
        "code",
        "school_uai",
        "school_kind",
        "login",
        "password",
        "admin_interface",
        "cert_chain",
        "cert_key",
    }
    assert "7 chiffres" in str(errors["school_uai"])
    assert "12" in str(errors["password"])


def test_passwords_must_match() -> None:
    _, errors = read_kernel_answers({**GOOD, "password_again": "Tableau-Noir-2027"}, ("eth1",))
    assert set(errors) == {"password_again"}


def test_a_directory_is_optional_and_needs_its_address_and_base_when_given() -> None:
    answers, _ = read_kernel_answers(GOOD, ("eth1",))
    assert answers is not None
    assert answers.directory is None
    form = {**GOOD, "ldap_uri": "http://annuaire", "ldap_base_dn": ""}
    _, errors = read_kernel_answers(form, ("eth1",))
    assert set(errors) == {"ldap_uri", "ldap_base_dn"}
    form = {
        **GOOD,
        "ldap_uri": "ldaps://annuaire.college.test:636",
        "ldap_base_dn": "dc=college,dc=test",
    }
    answers, errors = read_kernel_answers(form, ("eth1",))
    assert errors == {}
    assert answers is not None
    assert isinstance(answers.directory, DirectoryBinding)
    assert answers.directory.ldap.security == "ldaps"

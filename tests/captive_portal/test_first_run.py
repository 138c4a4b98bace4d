"""The portal's part of the first-run page (#15 scope 3): which interface is which."""

from __future__ import annotations

from appliance.features import FirstRunAnswers
from captive_portal.first_run import read

BOX = ("eth0", "eth1", "wlan0")


def _answers(**form: str) -> FirstRunAnswers:
    return FirstRunAnswers(form, BOX, "eth1", None)


def test_the_pupils_wifi_and_the_wan_become_the_portal_s_interfaces() -> None:
    settings, errors = read(_answers(pupils_interface="wlan0", wan_interface="eth0"))
    assert errors == {}
    assert settings == {"portal": {"byod_interface": "wlan0", "wan_interface": "eth0"}}


def test_one_cable_may_be_both_the_admin_lan_and_the_wan() -> None:
    settings, errors = read(_answers(pupils_interface="wlan0", wan_interface="eth1"))
    assert errors == {}
    assert settings["portal"]["wan_interface"] == "eth1"


def test_the_pupils_wifi_is_never_the_admin_lan_nor_the_wan() -> None:
    for wan in ("eth0", "wlan0"):
        settings, errors = read(_answers(pupils_interface="eth1" if wan == "eth0" else "wlan0",
                                         wan_interface=wan))  # fmt: skip
        assert set(errors) == {"pupils_interface"}
        assert settings == {}


def test_an_interface_the_box_does_not_have_is_refused_and_none_is_fine() -> None:
    _, errors = read(_answers(pupils_interface="wlan9"))
    assert set(errors) == {"pupils_interface"}
    assert read(_answers()) == ({}, {})

"""nftables enforcement in network namespaces (issue #4, scope 1)."""

from __future__ import annotations

import time

import pytest

from captive_portal import ruleset
from captive_portal.nftables import NftError
from tests.captive_portal.conftest import CLIENT_IP, DOWNLOAD_BYTES, WAN_IP, Lab

pytestmark = pytest.mark.timeout(120)


def test_before_login_http_goes_to_the_portal_https_is_reset_fast_rest_rejected(
    lab: Lab,
) -> None:
    outcome, size, _ = lab.fetch(f"http://{WAN_IP}/")
    assert outcome == "ok"
    assert size == len("Préau portail captif".encode())  # the portal, not the origin
    https, seconds = lab.connect(443)
    assert https == "ConnectionRefusedError"  # TCP reset
    assert seconds < 0.1
    other, _ = lab.connect(8080)
    assert other != "connected"


def test_authorised_client_reaches_the_wan_and_bytes_are_counted(lab: Lab) -> None:
    lab.table.apply(ruleset.authorise(lab.client_mac, CLIENT_IP, 600))
    outcome, size, _ = lab.fetch(f"http://{WAN_IP}/big.bin", timeout=20)
    assert (outcome, size) == ("ok", DOWNLOAD_BYTES)
    assert lab.connect(8080)[0] == "connected"
    (counters,) = lab.table.state().clients
    assert counters.mac == lab.client_mac
    assert counters.ip == CLIENT_IP
    # The body plus TCP/IP headers and the HTTP reply header: within 5 % above, never below.
    assert DOWNLOAD_BYTES <= counters.down_bytes <= DOWNLOAD_BYTES * 1.05
    assert 0 < counters.up_bytes < DOWNLOAD_BYTES * 0.05
    assert 590 <= counters.expires_in <= 600


def test_session_expires_by_itself_and_can_be_cut(lab: Lab) -> None:
    lab.table.apply(ruleset.authorise(lab.client_mac, CLIENT_IP, 2))
    assert lab.connect(8080)[0] == "connected"
    time.sleep(2.5)
    assert lab.connect(8080)[0] != "connected"
    lab.table.apply(ruleset.authorise(lab.client_mac, CLIENT_IP, 600))
    assert lab.connect(8080)[0] == "connected"
    lab.table.apply(ruleset.deauthorise(lab.client_mac, CLIENT_IP))
    assert lab.connect(8080)[0] != "connected"
    assert lab.table.state().clients == []


def test_a_spoofed_mac_ip_pair_gets_nothing(lab: Lab) -> None:
    # Another device's MAC with this client's IP: the pair does not match.
    lab.table.apply(ruleset.authorise("02:00:00:00:00:99", CLIENT_IP, 600))
    assert lab.connect(8080)[0] != "connected"


def test_bad_batch_is_refused_whole(lab: Lab) -> None:
    good = ruleset.authorise(lab.client_mac, CLIENT_IP, 600)
    bad = [
        {
            "add": {
                "element": {
                    "family": "inet",
                    "table": "preau_portal",
                    "name": "nope",
                    "elem": ["10.0.0.1"],
                }
            }
        }
    ]
    with pytest.raises(NftError):
        lab.table.apply(good + bad)
    assert lab.table.state().clients == []  # the good half was not applied either

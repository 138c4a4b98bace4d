"""What the BYOD DHCP server announces: the captive API, and the update cache to Windows
(issue #6 scope 1: Delivery Optimization's option 235; RFC 8910 option 114)."""

from __future__ import annotations

from pathlib import Path

import pytest

from captive_portal.dhcp import DhcpSettings, render_dnsmasq

BASE = {
    "interface": "byod0",
    "router": "10.77.0.1",
    "dns_server": "10.77.0.1",
    "first": "10.77.0.100",
    "last": "10.77.0.250",
    "lease_minutes": 60,
    "captive_api_url": "https://portail.college.test/api/captive",
}


def test_option_235_names_the_cache_only_when_set(tmp_path: Path) -> None:
    with_cache = render_dnsmasq(
        DhcpSettings(**BASE, do_cache_host="cache.college.test"), tmp_path / "leases"
    )
    assert 'dhcp-option=235,"cache.college.test"' in with_cache.splitlines()
    assert 'dhcp-option=114,"https://portail.college.test/api/captive"' in with_cache
    without = render_dnsmasq(DhcpSettings(**BASE), tmp_path / "leases")
    assert "dhcp-option=235" not in without


@pytest.mark.parametrize("host", ['cache"\ndhcp-range=1', "cache host", "a" * 254])
def test_a_cache_host_cannot_inject_configuration(host: str) -> None:
    with pytest.raises(ValueError, match="cache host"):
        DhcpSettings(**BASE, do_cache_host=host)

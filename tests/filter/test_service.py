"""The filter end to end: real unbound upstream, `preau run filter`, dig (#7.2)."""

from __future__ import annotations

import pytest

from appliance.config import PreauConfig
from tests.conftest import PreauProcess
from tests.filter.conftest import dig

pytestmark = pytest.mark.timeout(60)


def test_ut1_domain_blocks_itself_and_subdomains_but_allowlist_wins(
    running_filter: PreauProcess, filter_config: PreauConfig
) -> None:
    root = dig(filter_config, "porn-site.test")
    assert "status: NXDOMAIN" in root
    deep = dig(filter_config, "cdn.porn-site.test")
    assert "status: NXDOMAIN" in deep
    assert "EDE: 15 (Blocked)" in deep
    assert "adult (ut1)" in deep
    allowed = dig(filter_config, "homework.porn-site.test")
    assert "status: NOERROR" in allowed
    assert "192.0.2.67" in allowed


def test_pupil_blocked_with_category_teacher_answered(
    running_filter: PreauProcess, filter_config: PreauConfig
) -> None:
    pupil = dig(filter_config, "casino.test", source="127.0.0.10")
    assert "status: NXDOMAIN" in pupil
    assert "EDE: 15 (Blocked)" in pupil
    assert "gambling" in pupil
    teacher = dig(filter_config, "casino.test", source="127.0.0.2")
    assert "status: NOERROR" in teacher
    assert "192.0.2.68" in teacher


@pytest.mark.parametrize(
    ("name", "target", "address"),
    [
        ("www.google.fr", "forcesafesearch.google.com.", "216.239.38.120"),
        ("www.google.com", "forcesafesearch.google.com.", "216.239.38.120"),
        ("www.bing.com", "strict.bing.com.", "204.79.197.220"),
        ("www.youtube.com", "restrictmoderate.youtube.com.", "216.239.38.119"),
        ("duckduckgo.com", "safe.duckduckgo.com.", "52.142.124.215"),
    ],
)
def test_safesearch_for_pupils_not_for_staff(
    running_filter: PreauProcess,
    filter_config: PreauConfig,
    name: str,
    target: str,
    address: str,
) -> None:
    pupil = dig(filter_config, name, source="127.0.0.10")
    assert "status: NOERROR" in pupil
    assert f"CNAME\t{target}" in pupil
    assert address in pupil
    staff = dig(filter_config, name, source="127.0.0.3")
    assert "status: NOERROR" in staff
    assert "CNAME" not in staff


def test_safesearch_is_consistent_for_aaaa(
    running_filter: PreauProcess, filter_config: PreauConfig
) -> None:
    pupil = dig(filter_config, "www.google.fr", "AAAA", source="127.0.0.10")
    assert "CNAME\tforcesafesearch.google.com." in pupil
    assert "2001:4860:4802:32::78" in pupil


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("use-application-dns.net", "NXDOMAIN"),
        ("mask.icloud.com", "NXDOMAIN"),
        ("mask-h2.icloud.com", "NXDOMAIN"),
        ("_dns.resolver.arpa", "NOERROR"),
    ],
)
def test_bypass_names_blocked_for_pupils(
    running_filter: PreauProcess, filter_config: PreauConfig, name: str, status: str
) -> None:
    pupil = dig(filter_config, name, "SVCB" if "resolver" in name else "A", source="127.0.0.10")
    assert f"status: {status}" in pupil
    assert "ANSWER: 0" in pupil
    assert "EDE: 15 (Blocked)" in pupil
    staff = dig(filter_config, "use-application-dns.net", source="127.0.0.3")
    assert "192.0.2.99" in staff


def test_large_answer_truncated_over_udp_complete_over_tcp(
    running_filter: PreauProcess, filter_config: PreauConfig
) -> None:
    udp = dig(filter_config, "big.example.test", "TXT", "+ignore", "+bufsize=1232")
    assert " tc" in udp.split("flags:")[1].split(";")[0]
    assert "ANSWER: 0" in udp
    tcp = dig(filter_config, "big.example.test", "TXT", "+tcp")
    assert "ANSWER: 8" in tcp
    assert len(tcp) > 1500
    auto = dig(filter_config, "big.example.test", "TXT")
    assert "Truncated, retrying in TCP mode" in auto
    assert "ANSWER: 8" in auto


def test_client_outside_networks_is_refused(
    running_filter: PreauProcess, filter_config: PreauConfig
) -> None:
    outside = dig(filter_config, "www.example.test", source="127.0.0.200")
    assert "status: REFUSED" in outside
    inside = dig(filter_config, "www.example.test", source="127.0.0.20")
    assert "192.0.2.10" in inside

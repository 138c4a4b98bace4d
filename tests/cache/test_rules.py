"""Per-CDN cache rules: which requests are kept and under which key (issue #6 scope 4)."""

from __future__ import annotations

import pytest

from cache.rules import RulesError, key_digest, load_rules, normalise_host, parse_rules


def test_shipped_rules_key_mirrors_and_ip_literals_together() -> None:
    rules = load_rules()
    deb = rules.match("ftp.fr.debian.org", "/debian/pool/main/c/curl/curl_8.deb")
    same = rules.match("DEB.debian.org.", "/debian/pool/main/c/curl/curl_8.deb")
    assert deb is not None
    assert same is not None
    assert deb.key("ftp.fr.debian.org", "/debian/pool/main/c/curl/curl_8.deb", "") == same.key(
        "deb.debian.org", "/debian/pool/main/c/curl/curl_8.deb", ""
    )
    # Delivery Optimization's IP-literal URLs land in the Windows namespace.
    by_ip = rules.match("203.0.113.9", "/filestreamingservice/files/abc?P1=x")
    by_name = rules.match("tlu.dl.delivery.mp.microsoft.com", "/filestreamingservice/files/abc")
    assert by_ip is not None
    assert by_name is not None
    assert by_ip.content_class == by_name.content_class == "windows"
    assert by_ip.key("203.0.113.9", "/filestreamingservice/files/abc", "P1=x") == by_name.key(
        "tlu.dl.delivery.mp.microsoft.com", "/filestreamingservice/files/abc", ""
    )
    # Indexes are revalidated, packages are not; ChromeOS only by path; Steam by User-Agent.
    index = rules.match("deb.debian.org", "/debian/dists/trixie/InRelease")
    assert index is not None
    assert index.max_age == 60
    # Other paths of a steered name are relayed, never kept (issue #11: a rule says so).
    other = rules.match("dl.google.com", "/chrome/install/x.exe")
    assert other is not None
    assert not other.cache
    chromeos = rules.match("dl.google.com", "/chromeos/update.bin")
    assert chromeos is not None
    assert chromeos.cache
    no_agent = rules.match("lancache.steamcontent.com", "/depot/1/chunk/2")
    assert no_agent is not None
    assert not no_agent.cache
    # An IP literal passes only on its CDN's paths: nothing else matches it.
    assert rules.match("127.0.0.1", "/api/v1/me") is None
    assert rules.match("10.0.0.1", "/") is None
    assert not rules.serves_host("127.0.0.1")
    steam = rules.match(
        "lancache.steamcontent.com", "/depot/1/chunk/2", "Valve/Steam HTTP Client 1.0"
    )
    assert steam is not None
    # Steering never includes *.gvt1.com (it broke Play downloads) nor IP literals.
    steered = rules.steered_names()
    assert "*.gvt1.com" not in steered
    assert "@ip" not in steered
    assert "download.windowsupdate.com" in steered


def test_query_is_stripped_unless_kept() -> None:
    rules = parse_rules(
        'version = "t"\n'
        '[[rule]]\nname = "a"\nhosts = ["a.test"]\n'
        '[[rule]]\nname = "b"\nhosts = ["b.test"]\nkeep_query = true\n'
    )
    a, b = rules.rules
    assert a.key("a.test", "/f", "token=1") == "a.test/f"
    assert b.key("b.test", "/f", "z=1&a=2") == "b.test/f?a=2&z=1"
    assert key_digest("a.test/f") != key_digest("a.test/g")


TWICE = 'version = "1"\n[[rule]]\nname = "x"\nhosts = ["a"]\n[[rule]]\nname = "x"\nhosts = ["b"]'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('version = ""', "version"),
        ('version = "1"\nextra = 1', "extra: unknown key"),
        ('version = "1"\n[[rule]]\nname = "Bad Name"\nhosts = ["a"]', "name"),
        ('version = "1"\n[[rule]]\nname = "x"\nhosts = "a"', "rule x: hosts"),
        ('version = "1"\n[[rule]]\nname = "x"\nhosts = ["a b"]', "rule x: hosts"),
        ('version = "1"\n[[rule]]\nname = "x"\nhosts = ["a"]\npaths = ["("]', "rule x: paths"),
        ('version = "1"\n[[rule]]\nname = "x"\nhosts = ["a"]\nmax_age = -5', "rule x: max_age"),
        ('version = "1"\n[[rule]]\nname = "x"\nhosts = ["a"]\nsteer = "yes"', "rule x: steer"),
        ('version = "1"\n[[rule]]\nname = "x"\nhosts = ["a"]\ncolour = 1', "rule x: colour"),
        (TWICE, "rule x: name: used twice"),
        ('version = "1"\n[[rule]]\nname = "x"\nhosts = ["@ip"]', "rule x: paths: an @ip rule"),
        ("version = [", "not TOML"),
    ],
)
def test_a_bad_rules_file_names_the_rule_and_key(text: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        parse_rules(text)


def test_host_normalisation() -> None:
    assert normalise_host("Download.WindowsUpdate.com:80") == "download.windowsupdate.com"
    assert normalise_host("[2001:db8::1]:80") == "2001:db8::1"
    assert normalise_host("example.org.") == "example.org"

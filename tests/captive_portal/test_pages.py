"""The portal's pages: French first, English on request, escaped, no script (pure)."""

from __future__ import annotations

from captive_portal.dhcp import parse_leases
from captive_portal.pages import TEXTS, PortalPages, choose_language, human_bytes


def test_language_choice() -> None:
    assert choose_language(None, "") == "fr"
    assert choose_language(None, "en-GB,en;q=0.9") == "en"
    assert choose_language(None, "de-DE,fr;q=0.8") == "fr"
    assert choose_language("en", "fr") == "en"
    assert choose_language("xx", "") == "fr"
    assert set(TEXTS["fr"]) == set(TEXTS["en"])


def test_login_page_escapes_and_loads_nothing_from_outside() -> None:
    html = PortalPages().render(
        "login",
        "fr",
        form_token="tok",
        charter_version="2026-09",
        charter_text="<script>alert(1)</script>",
        resume_user="",
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "http://" not in html
    assert "https://" not in html
    assert 'lang="fr"' in html
    assert 'for="login"' in html
    assert 'id="login"' in html
    assert "Code figurant sur votre ticket" in html


def test_status_page_in_english() -> None:
    html = PortalPages().render(
        "status",
        "en",
        user="l.bernard",
        time_left="1 h 05 min",
        used=human_bytes(1_500_000),
        quota="",
        throttled=True,
        devices=[{"mac": "02:00:00:00:00:01", "randomised": True, "current": True}],
        form_token="tok",
    )
    assert "You are online" in html
    assert "1.5 Mo" in html
    assert "private address" in html
    assert "slower until tomorrow" in html


def test_lease_file_is_read_defensively() -> None:
    text = (
        "1790000000 aa:bb:cc:dd:ee:01 10.77.0.100 tablette-12 01:aa:bb:cc:dd:ee:01\n"
        "garbage line\n"
        "1790000000 not-a-mac 10.77.0.101 x *\n"
        "1790000000 aa:bb:cc:dd:ee:02 10.77.0.300 x *\n"
        f"1790000000 AA:BB:CC:DD:EE:03 10.77.0.102 {'h' * 300} *\n"
        "1790000000 aa:bb:cc:dd:ee:04 10.77.0.103 * *\n"
    )
    leases = parse_leases(text)
    assert [(lease.mac, lease.ip) for lease in leases] == [
        ("aa:bb:cc:dd:ee:01", "10.77.0.100"),
        ("aa:bb:cc:dd:ee:03", "10.77.0.102"),
        ("aa:bb:cc:dd:ee:04", "10.77.0.103"),
    ]
    assert leases[0].hostname == "tablette-12"
    assert len(leases[1].hostname) == 63
    assert leases[2].hostname == ""

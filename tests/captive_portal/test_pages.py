"""The portal's pages: French first, English on request, escaped, no script (pure)."""

from __future__ import annotations

from pathlib import Path

from appliance.i18n import language_of, octets_text
from captive_portal.dhcp import parse_lease_events
from captive_portal.pages import MAX_LOGO_BYTES, MESSAGES, PortalPages, logo_uri


def test_language_choice() -> None:
    assert language_of(None, "") == "fr"
    assert language_of(None, "en-GB,en;q=0.9") == "en"
    assert language_of(None, "de-DE,fr;q=0.8") == "fr"
    assert language_of("en", "fr") == "en"
    assert language_of("xx", "") == "fr"


def test_every_message_the_portal_sends_is_in_english_too() -> None:
    pages = PortalPages()
    for reason in MESSAGES:
        assert pages.message("en", reason) != pages.message("fr", reason), reason
    assert pages.message("en", "err_voucher") == "Invalid, expired or used-up code."


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
        used=octets_text(1_500_000, "en"),
        quota="",
        throttled=True,
        devices=[
            {"name": "", "mac": "02:00:00:00:00:01", "randomised": True, "current": True},
            {
                "name": "iPad-de-Lina",
                "mac": "02:00:00:00:00:02",
                "randomised": False,
                "current": False,
            },
        ],
        form_token="tok",
        school="Collège Jean Moulin",
    )
    assert "You are online" in html
    assert "1.5\u00a0MB" in html
    assert "Collège Jean Moulin" in html
    # A device shows the name it gave DHCP before its address.
    assert "<strong>iPad-de-Lina</strong> (02:00:00:00:00:02)" in html
    assert "private address" in html
    assert "slower until tomorrow" in html


def test_lease_events_are_read_defensively() -> None:
    text = (
        "aa:bb:cc:dd:ee:01\t10.77.0.100\ttablette-12\tandroid-dhcp-14\t1,3,6,15,114\n"
        "garbage line\n"
        "not-a-mac\t10.77.0.101\tx\t\t\n"
        "aa:bb:cc:dd:ee:02\t10.77.0.300\tx\t\t\n"
        f"AA:BB:CC:DD:EE:03\t10.77.0.102\t{'h' * 300}\t{'v' * 300}\t1,3;rm -rf\n"
        "aa:bb:cc:dd:ee:04\t10.77.0.103\t\t\t\textra\n"
    )
    events = parse_lease_events(text)
    assert [(e.mac, e.ip) for e in events] == [
        ("aa:bb:cc:dd:ee:01", "10.77.0.100"),
        ("aa:bb:cc:dd:ee:03", "10.77.0.102"),
    ]
    assert events[0].fingerprint == "1,3,6,15,114"
    assert events[0].vendor_class == "android-dhcp-14"
    assert len(events[1].hostname) == 63
    assert len(events[1].vendor_class) == 64
    assert events[1].fingerprint == ""


def test_the_charter_has_a_readable_page_of_its_own() -> None:
    """#16 scope 6: no scroll box inside a scrolling page; a page to read or print."""
    login = PortalPages().render(
        "login", "fr", charter_version="2026-09", charter_text="Article 1. Respect.", school="X"
    )
    assert 'class="charter" tabindex' not in login  # the old 208 px scroll box
    assert '<a href="/charte?lang=fr">' in login
    assert "<details><summary>Lire la charte ici</summary>" in login
    page = PortalPages().render(
        "charter", "fr", charter_version="2026-09", charter_text="Article 1. Respect.", school="X"
    )
    assert "<h1>Charte d'utilisation</h1>" in page
    assert "Version 2026-09" in page
    assert '<div class="charter" id="charter-text">Article 1. Respect.</div>' in page
    assert '<a href="/login?lang=fr">Revenir à la connexion</a>' in page
    assert "@media print" in page


def test_the_referents_help_text_or_a_general_one_is_on_the_login_page() -> None:
    """#16 scopes 2 and 6: a pupil stuck on the portal is told which login and whom to ask."""
    pages = PortalPages()
    common = {"form_token": "t", "charter_version": "1", "charter_text": "c", "resume_user": ""}
    general = pages.render("login", "fr", **common)
    assert "Besoin d'aide ?" in general
    assert "identifiant et le mot de passe de l'ENT" in general
    assert "Need help?" in pages.render("login", "en", **common)
    own = pages.render("login", "fr", help_text="Voir M. Petit, salle 12 <b>", **common)
    assert "Voir M. Petit, salle 12 &lt;b&gt;" in own
    assert "identifiant et le mot de passe de l'ENT" not in own
    failed = pages.render("message", "fr", error="Non.", **common)
    assert '<details class="help" id="help" open>' in failed


def test_a_visitor_reads_the_visitors_charter_not_the_pupils() -> None:
    """#16 scope 6: the code form carries the visitors' charter and its version."""
    html = PortalPages().render(
        "login", "fr", form_token="t", charter_version="2026-09", charter_text="Charte élèves.",
        resume_user="", guest_charter_version="invites-1", guest_charter_text="Charte visiteurs.",
    )  # fmt: skip
    voucher = html.split('action="/voucher?lang=fr"', 1)[1]
    assert 'name="charter_version" value="invites-1"' in voucher
    assert "Charte visiteurs." in voucher
    assert "Charte élèves." not in voucher
    assert 'href="/charte?visiteur=1&amp;lang=fr"' in voucher


def test_the_schools_logo_is_inline_and_only_an_image() -> None:
    """#16 scope 6: the school's logo, loaded from nowhere (a data: address), never a script."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    assert logo_uri(png).startswith("data:image/png;base64,")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"></svg>'
    assert logo_uri(svg).startswith("data:image/svg+xml;base64,")
    assert logo_uri(b"<html><script>alert(1)</script>") == ""
    assert logo_uri(b"\x89PNG\r\n\x1a\n" + bytes(MAX_LOGO_BYTES)) == ""  # too big
    pages = PortalPages()
    pages.logo = logo_uri(png)
    html = pages.render("login", "fr", form_token="t", charter_version="1", charter_text="c",
                        resume_user="", school="Collège Jean Moulin")  # fmt: skip
    assert '<img src="data:image/png;base64,' in html
    assert "Collège Jean Moulin" in html


def test_a_logo_file_is_read_once_and_a_bad_one_is_left_out(tmp_path: Path) -> None:
    from captive_portal.service import _read_logo

    good = tmp_path / "logo.png"
    good.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10))
    assert _read_logo(good).startswith("data:image/png;base64,")
    bad = tmp_path / "logo.html"
    bad.write_bytes(b"<html>")
    assert _read_logo(bad) == ""
    assert _read_logo(tmp_path / "absent.png") == ""


def test_english_is_kept_on_the_next_page() -> None:
    """#16 scope 6: every form and link of an English page asks for English again."""
    html = PortalPages().render("login", "en", form_token="t", charter_version="1",
                                charter_text="c", resume_user="")  # fmt: skip
    for target in ('action="/login?lang=en"', 'action="/voucher?lang=en"',
                   'href="/charte?lang=en"'):  # fmt: skip
        assert target in html

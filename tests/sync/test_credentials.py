"""Tokens, signed requests and signed time (pure: the clocks are the test's)."""

from __future__ import annotations

import datetime as dt

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Root

from sync.credentials import (
    CredentialError,
    load_box_key,
    mint_token,
    new_box_key,
    parse_token,
    public_text,
    sign_request,
    sign_time,
    token_text,
    verify_request,
    verify_time,
)

NOW = 1_800_000_000.0


def test_a_token_says_its_school_anchor_and_expiry_and_keeps_its_secret() -> None:
    token = mint_token("0750001A", "https://c.example/r", "https://c.example", b"root", NOW)
    text = token_text(token)
    read = parse_token(f"  {text[:30]}\n{text[30:]} ")  # pasted across lines
    assert read == token
    assert read.expires == NOW + 72 * 3600
    assert token.secret not in token.secret_sha256
    with pytest.raises(CredentialError, match="72 heures"):
        mint_token("0750001A", "https://c", "https://c", b"", NOW, dt.timedelta(hours=73))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "preau1",
        "preau1.e30.",
        "preau2.e30.abc",
        "preau1.!!!.abc",
        "preau1.e30.abc",
        "preau1.eyJpZCI6MX0.abc",
    ],
)
def test_anything_else_is_not_a_token(text: str) -> None:
    with pytest.raises(CredentialError, match="pas un jeton"):
        parse_token(text)


def test_a_request_is_the_box_s_only_if_nothing_in_it_changed() -> None:
    key = load_box_key(new_box_key())
    public = public_text(key)
    headers = sign_request(key, "box-1", "POST", "/intake/reports", b"[1]", NOW)
    verify_request([public], headers, "POST", "/intake/reports", b"[1]", NOW + 5)
    for method, path, body in (
        ("POST", "/intake/reports", b"[2]"),
        ("POST", "/intake/rotate", b"[1]"),
        ("GET", "/intake/reports", b"[1]"),
    ):
        with pytest.raises(CredentialError, match="signature"):
            verify_request([public], headers, method, path, body, NOW)
    other = public_text(load_box_key(new_box_key()))
    with pytest.raises(CredentialError, match="signature"):
        verify_request([other], headers, "POST", "/intake/reports", b"[1]", NOW)
    with pytest.raises(CredentialError, match="hors délai"):
        verify_request([public], headers, "POST", "/intake/reports", b"[1]", NOW + 3600)
    with pytest.raises(CredentialError, match="non signée"):
        verify_request([public], {}, "POST", "/intake/reports", b"[1]", NOW)


def test_signed_time_needs_the_root_s_timestamp_key_and_this_nonce() -> None:
    timestamp = CryptoSigner.generate_ed25519()
    stranger = CryptoSigner.generate_ed25519()
    root = Root()
    for role in ("root", "targets", "snapshot", "timestamp"):
        root.add_key(timestamp.public_key, role)
    root.add_key(stranger.public_key, "targets")
    answer = sign_time(timestamp, "n" * 32, NOW)
    assert verify_time(root, answer, "n" * 32) == NOW
    with pytest.raises(CredentialError, match="nonce"):
        verify_time(root, answer, "m" * 32)
    with pytest.raises(CredentialError, match="clé inconnue"):
        verify_time(root, sign_time(stranger, "n" * 32, NOW), "n" * 32)
    forged = {**answer, "time": NOW + 86400 * 365}
    with pytest.raises(CredentialError, match="invalide"):
        verify_time(root, forged, "n" * 32)

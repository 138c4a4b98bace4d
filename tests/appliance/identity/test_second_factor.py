"""The second factor's pure rules: RFC 6238 codes, replay, recovery codes (#16 scope 9)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

from appliance.identity import second_factor as rules

# RFC 6238 appendix B: the SHA-1 seed is the ASCII "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


def rfc4226(secret: str, counter: int, digits: int = 6) -> str:
    """An independent HOTP (RFC 4226 §5.3), to check pyotp's codes against."""
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def test_codes_are_rfc_6238_test_vectors() -> None:
    # RFC 6238 appendix B gives 8 digits; the six an app shows are their last six.
    for when, eight in ((59, "94287082"), (1111111109, "07081804"), (2000000000, "69279037")):
        assert rules.code_at(RFC_SECRET, when) == eight[-6:]
        assert rfc4226(RFC_SECRET, when // 30) == eight[-6:]


def test_a_code_counts_one_step_either_side_and_never_twice() -> None:
    now = 1_800_000_000.0
    secret = rules.new_secret()
    step = rules.step_of(now)
    for offset in (-1, 0, 1):
        code = rules.code_at(secret, now + offset * 30)
        check = rules.check_time_code(secret, code, now, last_step=0)
        assert check.accepted
        assert check.step == step + offset
    stale = rules.code_at(secret, now - 60)
    assert not rules.check_time_code(secret, stale, now, last_step=0).accepted
    current = rules.code_at(secret, now)
    assert not rules.check_time_code(secret, current, now, last_step=step).accepted
    assert not rules.check_time_code(secret, "12345", now, last_step=0).accepted
    assert not rules.check_time_code(secret, "abcdef", now, last_step=0).accepted


def test_recovery_codes_are_ten_distinct_readable_codes() -> None:
    codes = rules.new_recovery_codes()
    assert len(set(codes)) == 10
    for code in codes:
        assert len(code) == 14
        assert code.count("-") == 2
        assert rules.plausible_recovery_code(code)
        assert rules.plausible_recovery_code(code.lower().replace("-", " "))
        assert rules.kind_of(code) == "recovery"
    assert not rules.plausible_recovery_code("ABCD-EFGH-JKM0")  # 0 is not in the alphabet
    assert rules.kind_of(" 123 456 ") == "totp"


def test_the_qr_address_names_the_box_and_the_account() -> None:
    uri = rules.provisioning_uri(RFC_SECRET, "referent", "Collège Jean Moulin")
    assert uri.startswith("otpauth://totp/")
    assert f"secret={RFC_SECRET}" in uri
    assert "referent" in uri
    assert "Jean%20Moulin" in uri
    assert rules.secret_groups("ABCDEFGHIJKL") == "ABCD EFGH IJKL"

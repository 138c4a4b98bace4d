"""PERSONNEL keys: sealed by Argon2id, opened only with the right secret (#7.30, #7.31)."""

from __future__ import annotations

import time

import pytest

from appliance import agefile
from storage import vault


def test_keys_open_with_the_password_or_the_recovery_code_only() -> None:
    keys = vault.create_keys("mot-de-passe-1", "owasp-minimum", recovery=True)
    stored = vault.SealedIdentity.from_json(keys.by_password.to_json())
    assert vault.open_sealed(stored, "mot-de-passe-1") == keys.identity
    with pytest.raises(vault.VaultError):
        vault.open_sealed(stored, "mot-de-passe-2")
    assert keys.by_recovery is not None
    typed = keys.recovery_code.lower().replace("-", " ")
    opened = vault.open_sealed(keys.by_recovery, vault.normalise_code(typed))
    assert opened == keys.identity
    assert keys.recipient == agefile.recipient_of(keys.identity)
    # Neither the identity nor the password appears in what is stored.
    text = keys.by_password.to_json() + keys.by_recovery.to_json()
    assert keys.identity not in text
    assert "mot-de-passe-1" not in text


def test_without_recovery_codes_there_is_none() -> None:
    keys = vault.create_keys("mot-de-passe-1", "owasp-minimum", recovery=False)
    assert keys.by_recovery is None
    assert keys.recovery_code == ""


def test_damaged_envelopes_are_refused_clearly() -> None:
    keys = vault.create_keys("mot-de-passe-1", "owasp-minimum", recovery=False)
    for text in ("", "{}", '{"v": 2, "kdf": "argon2id"}', keys.by_password.to_json()[:-5]):
        with pytest.raises(vault.VaultError):
            vault.SealedIdentity.from_json(text)
    tampered = vault.SealedIdentity.from_json(keys.by_password.to_json())
    flipped = vault.SealedIdentity(
        tampered.time_cost,
        tampered.memory_kib,
        tampered.parallelism,
        tampered.salt,
        tampered.nonce,
        bytes([tampered.box[0] ^ 1]) + tampered.box[1:],
    )
    with pytest.raises(vault.VaultError):
        vault.open_sealed(flipped, "mot-de-passe-1")


def test_resealing_touches_only_the_envelope() -> None:
    identity = agefile.generate_identity()
    first = vault.seal(identity, "ancien", "owasp-minimum")
    started = time.perf_counter()
    second = vault.seal(vault.open_sealed(first, "ancien"), "nouveau", "owasp-minimum")
    assert time.perf_counter() - started < 2  # whatever the size of the space
    assert vault.open_sealed(second, "nouveau") == identity
    assert first.salt != second.salt

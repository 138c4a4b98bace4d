"""Préau's age files are age files: the reference binding reads ours, we read its."""

from __future__ import annotations

import io
import os

import pyrage
import pytest
from pyrage import x25519

from appliance.productions import agefile

SIZES = [0, 1, 100, 65_535, 65_536, 65_537, 131_072, 200_000, 1_000_003]


@pytest.mark.parametrize("size", SIZES)
def test_both_directions_with_the_reference_binding(size: int) -> None:
    identity = agefile.generate_identity()
    recipient = agefile.recipient_of(identity)
    assert str(x25519.Identity.from_str(identity).to_public()) == recipient
    data = os.urandom(size)
    sealed = io.BytesIO()
    writer = agefile.AgeWriter(recipient, sealed)
    for start in range(0, size, 70_001):  # writes that straddle chunks
        writer.write(data[start : start + 70_001])
    writer.close()
    assert pyrage.decrypt(sealed.getvalue(), [x25519.Identity.from_str(identity)]) == data
    theirs = pyrage.encrypt(data, [x25519.Recipient.from_str(recipient)])
    assert agefile.decrypt_stream(identity, io.BytesIO(theirs)) == data


def test_keys_made_by_the_reference_binding_work() -> None:
    theirs = x25519.Identity.generate()
    assert agefile.recipient_of(str(theirs)) == str(theirs.to_public())
    with pytest.raises(agefile.AgeError):
        agefile.recipient_of(str(theirs)[:-1] + ("Q" if str(theirs)[-1] != "Q" else "P"))


def _sealed(data: bytes) -> tuple[str, bytes]:
    identity = agefile.generate_identity()
    out = io.BytesIO()
    writer = agefile.AgeWriter(agefile.recipient_of(identity), out)
    writer.write(data)
    writer.close()
    return identity, out.getvalue()


def test_tampering_truncation_and_the_wrong_key_are_detected() -> None:
    identity, sealed = _sealed(os.urandom(200_000))
    header_end = sealed.index(b"\n---") + 1
    damaged = [
        sealed[: len(sealed) - 1],  # cut
        sealed[: header_end + 70_000],  # cut at a chunk boundary region
        sealed[:-20] + bytes([sealed[-20] ^ 1]) + sealed[-19:],  # a payload bit
        sealed[:30] + bytes([sealed[30] ^ 1]) + sealed[31:],  # a header bit
        b"age-encryption.org/v2\n" + sealed[22:],
        b"",
    ]
    for data in damaged:
        with pytest.raises(agefile.AgeError):
            agefile.decrypt_stream(identity, io.BytesIO(data))
    with pytest.raises(agefile.AgeError):
        agefile.decrypt_stream(agefile.generate_identity(), io.BytesIO(sealed))

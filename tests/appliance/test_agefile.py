"""Préau's age files are age files: the reference binding reads ours, we read its."""

from __future__ import annotations

import io
import os

import pyrage
import pytest
from pyrage import x25519

from appliance import agefile

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


@pytest.mark.parametrize("per_block", [1, 2, 3, 16])
def test_blocks_of_any_size_give_the_plaintext_back(per_block: int) -> None:
    """Reads are batched into blocks; every block edge still checks the last-chunk flag."""
    chunk = agefile.CHUNK
    for size in (0, 1, chunk, 2 * chunk, 3 * chunk, 3 * chunk + 5, 6 * chunk - 1, 6 * chunk):
        data = os.urandom(size)
        identity = agefile.generate_identity()
        theirs = pyrage.encrypt(data, [x25519.Recipient.from_str(agefile.recipient_of(identity))])
        blocks = list(agefile.iter_plaintext(identity, io.BytesIO(theirs), per_block))
        assert b"".join(blocks) == data
        assert all(len(block) == per_block * chunk for block in blocks[:-1])


@pytest.mark.parametrize("per_block", [1, 2, 16])
def test_cut_at_a_chunk_boundary_or_reordered_is_refused(per_block: int) -> None:
    """A file cut exactly between chunks looks whole unless the last flag is checked."""
    identity, sealed = _sealed(os.urandom(5 * agefile.CHUNK + 10))
    payload = sealed.index(b"\n---") + 1
    payload = sealed.index(b"\n", payload) + 1 + 16  # after the MAC line and the nonce
    step = agefile.CHUNK + agefile.TAG
    chunks = [sealed[payload + i * step : payload + (i + 1) * step] for i in range(6)]
    damaged = [sealed[: payload + k * step] for k in range(1, 6)]
    damaged.append(sealed[:payload] + chunks[1] + chunks[0] + b"".join(chunks[2:]))
    damaged.append(sealed[:payload] + b"".join(chunks[:4]) + chunks[5])  # one dropped
    for data in damaged:
        with pytest.raises(agefile.AgeError):
            list(agefile.iter_plaintext(identity, io.BytesIO(data), per_block))

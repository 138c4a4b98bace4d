"""The age file format (C2SP age v1), X25519 recipients, streamed.

Files written here are ordinary age files: ``age -d -i key.txt`` (or the
``pyrage`` binding the tests use to check both directions) reads them, and
this module reads theirs. Why not call a binding for the payload: the
binding ran ChaCha20-Poly1305 at about 500 MB/s, OpenSSL (through the
``cryptography`` package) at about 3.5 GB/s on the same core, and PERSONNEL
must stay within 80 % of plain files (``bench/storage.py``). The header and
the STREAM construction follow https://github.com/C2SP/C2SP/blob/main/age.md:

* a random 16-byte file key, wrapped for the recipient with an ephemeral
  X25519 share, HKDF-SHA256 ("age-encryption.org/v1/X25519") and
  ChaCha20-Poly1305; the header is authenticated by HMAC-SHA256 under a key
  derived from the file key ("header");
* the payload: a random 16-byte nonce, then 64 KiB chunks sealed with
  ChaCha20-Poly1305 under HKDF(file key, nonce, "payload"), each chunk's
  nonce an 11-byte counter and a last-chunk flag, so truncation, reordering
  and tampering are all detected.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Iterator
from typing import BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

VERSION_LINE: Final = b"age-encryption.org/v1"
X25519_LABEL: Final = b"age-encryption.org/v1/X25519"
CHUNK: Final = 64 * 1024
TAG: Final = 16
READ_CHUNKS: Final = 16  # 1 MiB of plaintext per read
_MAX_HEADER: Final = 64 * 1024
_CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


class AgeError(ValueError):
    """Not an age file for this identity, or a damaged one."""


# -- keys (bech32, BIP 173, as age writes them) ------------------------------------------


def _polymod(values: list[int]) -> int:
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for index in range(5):
            checksum ^= generator[index] if (top >> index) & 1 else 0
    return checksum


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert(data: bytes | list[int], source: int, target: int, pad: bool) -> list[int]:
    accumulator, bits, out = 0, 0, []
    for value in data:
        accumulator = (accumulator << source) | value
        bits += source
        while bits >= target:
            bits -= target
            out.append((accumulator >> bits) & ((1 << target) - 1))
    if pad and bits:
        out.append((accumulator << (target - bits)) & ((1 << target) - 1))
    elif not pad and (bits >= source or (accumulator << (target - bits)) & ((1 << target) - 1)):
        raise AgeError("bad key encoding")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Encode ``data`` with the human-readable part ``hrp`` (lower case)."""
    words = _convert(data, 8, 5, True)
    polymod = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[w] for w in words + checksum)


def bech32_decode(text: str, hrp: str) -> bytes:
    """Decode a bech32 string whose human-readable part must be ``hrp``."""
    lowered = text.strip().lower()
    head, _, tail = lowered.rpartition("1")
    if head != hrp or len(tail) < 6 or any(c not in _CHARSET for c in tail):
        raise AgeError("bad key encoding")
    words = [_CHARSET.index(c) for c in tail]
    if _polymod([*_hrp_expand(head), *words]) != 1:
        raise AgeError("bad key checksum")
    return bytes(_convert(words[:-6], 5, 8, False))


def generate_identity() -> str:
    """Return a new identity as ``AGE-SECRET-KEY-1…``."""
    return bech32_encode("age-secret-key-", secrets.token_bytes(32)).upper()


def recipient_of(identity: str) -> str:
    """Return the ``age1…`` recipient of an identity."""
    private = X25519PrivateKey.from_private_bytes(bech32_decode(identity, "age-secret-key-"))
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return bech32_encode("age", public)


# -- header --------------------------------------------------------------------------------


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _unb64(text: bytes) -> bytes:
    if b"=" in text or b"\r" in text:
        raise AgeError("bad base64 in header")
    try:
        return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except ValueError as err:
        raise AgeError("bad base64 in header") from err


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _header_mac(file_key: bytes, header: bytes) -> bytes:
    return hmac.digest(_hkdf(file_key, b"", b"header"), header, "sha256")


def _chunk_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class AgeWriter:
    """Encrypt a stream to one X25519 recipient: write(), then close()."""

    def __init__(self, recipient: str, out: BinaryIO) -> None:
        """Write the header and the payload nonce to ``out``."""
        public = bech32_decode(recipient, "age")
        file_key = secrets.token_bytes(16)
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public))
        wrap_key = _hkdf(shared, share + public, X25519_LABEL)
        body = ChaCha20Poly1305(wrap_key).encrypt(bytes(12), file_key, None)
        header = VERSION_LINE + b"\n-> X25519 " + _b64(share) + b"\n" + _b64(body) + b"\n---"
        out.write(header + b" " + _b64(_header_mac(file_key, header)) + b"\n")
        nonce = secrets.token_bytes(16)
        out.write(nonce)
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._out = out
        self._buffer = bytearray()
        self._counter = 0

    def write(self, data: bytes) -> None:
        """Encrypt ``data`` (whole chunks go out; the last one waits for close)."""
        self._buffer += data
        # Keep at least one byte back: only close() knows which chunk is the last.
        if len(self._buffer) <= CHUNK:
            return
        start = 0
        with memoryview(self._buffer) as view:
            while len(self._buffer) - start > CHUNK:
                with view[start : start + CHUNK] as chunk:
                    sealed = self._aead.encrypt(_chunk_nonce(self._counter, False), chunk, None)
                self._out.write(sealed)
                self._counter += 1
                start += CHUNK
        del self._buffer[:start]

    def close(self) -> None:
        """Seal the last chunk (empty only when the whole file is empty)."""
        last = bytes(self._buffer)
        self._out.write(self._aead.encrypt(_chunk_nonce(self._counter, True), last, None))
        self._buffer.clear()


def _read_line(source: BinaryIO, budget: list[int]) -> bytes:
    line = source.readline(budget[0] + 1)
    budget[0] -= len(line)
    if not line.endswith(b"\n") or budget[0] < 0:
        raise AgeError("header too long or cut short")
    return line[:-1]


def _file_key(identity: str, source: BinaryIO) -> tuple[bytes, bytes]:
    """Read the header; return (file key, header bytes), or raise AgeError."""
    private = X25519PrivateKey.from_private_bytes(bech32_decode(identity, "age-secret-key-"))
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    budget = [_MAX_HEADER]
    if _read_line(source, budget) != VERSION_LINE:
        raise AgeError("not an age v1 file")
    header = VERSION_LINE + b"\n"
    file_key: bytes | None = None
    while True:
        line = _read_line(source, budget)
        if line.startswith(b"--- "):
            header += b"---"
            mac = _unb64(line[4:])
            break
        if not line.startswith(b"-> "):
            raise AgeError("bad header line")
        header += line + b"\n"
        arguments = line[3:].split(b" ")
        body = b""
        while True:  # a stanza body: 64-column lines, the last one shorter
            body_line = _read_line(source, budget)
            header += body_line + b"\n"
            body += _unb64(body_line)
            if len(body_line) < 64:
                break
        if file_key is None and arguments[0] == b"X25519" and len(arguments) == 2:
            share = _unb64(arguments[1])
            if len(share) != 32 or len(body) != 32:
                raise AgeError("bad X25519 stanza")
            shared = private.exchange(X25519PublicKey.from_public_bytes(share))
            if shared == bytes(32):
                raise AgeError("bad X25519 share")
            wrap_key = _hkdf(shared, share + public, X25519_LABEL)
            try:
                file_key = ChaCha20Poly1305(wrap_key).decrypt(bytes(12), body, None)
            except InvalidTag:
                continue  # a stanza for someone else
    if file_key is None:
        raise AgeError("no stanza for this identity")
    if not hmac.compare_digest(mac, _header_mac(file_key, header)):
        raise AgeError("header MAC mismatch")
    return file_key, header


def decrypt_stream(identity: str, source: BinaryIO, sink: BinaryIO | None = None) -> bytes:
    """Decrypt ``source`` block by block into ``sink`` (or return the plaintext)."""
    collected = bytearray()
    for block in iter_plaintext(identity, source):
        if sink is None:
            collected += block
        else:
            sink.write(block)
    return bytes(collected)


def _fill(source: BinaryIO, buffer: bytearray) -> int:
    """Read into ``buffer`` until it is full or the source ends; return the count."""
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer):
        count = source.readinto(view[filled:])  # type: ignore[attr-defined]
        if not count:
            break
        filled += count
    view.release()
    return filled


def iter_plaintext(
    identity: str, source: BinaryIO, chunks_per_block: int = READ_CHUNKS
) -> Iterator[bytearray]:
    """Yield the plaintext in blocks of ``chunks_per_block`` chunks, each chunk checked.

    Blocks, not chunks, because the per-call costs (reads, allocations, the
    hand-over to the event loop) are what keeps a download below the speed of
    plain files: one read per block, each chunk decrypted straight into the
    block the caller receives, and the caller owns that block.
    """
    file_key, _ = _file_key(identity, source)
    nonce = source.read(16)
    if len(nonce) != 16:
        raise AgeError("payload cut short")
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    sealed_size = CHUNK + TAG
    current = bytearray(chunks_per_block * sealed_size)
    following = bytearray(len(current))
    have = _fill(source, current)
    counter = 0
    while True:
        # The chunk that ends the file is sealed with the last flag: knowing
        # whether more follows needs the next block read before this one is opened.
        more = _fill(source, following) if have == len(current) else 0
        if have < TAG:
            raise AgeError("payload cut short")
        count = -(-have // sealed_size)
        tail = have - (count - 1) * sealed_size
        if tail < TAG:
            raise AgeError("payload cut short")
        block = bytearray((count - 1) * CHUNK + tail - TAG)
        sealed_view = memoryview(current)
        plain_view = memoryview(block)
        for number in range(count):
            last = more == 0 and number == count - 1
            start = number * sealed_size
            end = min(start + sealed_size, have)
            try:
                aead.decrypt_into(
                    _chunk_nonce(counter, last),
                    sealed_view[start:end],
                    None,
                    plain_view[number * CHUNK : number * CHUNK + end - start - TAG],
                )
            except InvalidTag as err:
                raise AgeError("payload damaged, cut or reordered") from err
            counter += 1
        sealed_view.release()
        plain_view.release()
        if more == 0 and tail == TAG and counter > 1:
            raise AgeError("empty last chunk")
        yield block
        if more == 0:
            return
        current, following, have = following, current, more

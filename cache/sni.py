"""The server name of a TLS ClientHello, read without decrypting anything (pure).

The cache never intercepts TLS: when DNS steering sends a device's HTTPS for
an update CDN's name to the appliance, :mod:`cache.passthrough` reads the
name the device asks for here and joins the device to the real origin,
byte for byte. Handshake messages split over several TLS records (large
post-quantum key shares) are reassembled.
"""

from __future__ import annotations

from typing import Final

RECORD_HEADER: Final = 5
MAX_HELLO: Final = 64 * 1024
_HANDSHAKE: Final = 0x16
_CLIENT_HELLO: Final = 0x01
_SERVER_NAME: Final = 0x0000


class NotClientHello(ValueError):
    """Not the start of a TLS connection (or a damaged one)."""


class NeedMore(Exception):
    """The bytes so far end before the ClientHello does."""


def _handshake_bytes(data: bytes) -> bytes:
    """Return the handshake bytes carried by the leading records of ``data``."""
    out = bytearray()
    offset = 0
    while True:
        if len(data) - offset < RECORD_HEADER:
            raise NeedMore
        if data[offset] != _HANDSHAKE or data[offset + 1] != 0x03:
            raise NotClientHello("not a TLS handshake record")
        length = int.from_bytes(data[offset + 3 : offset + 5], "big")
        if length == 0 or length > 16384 + 2048:
            raise NotClientHello("bad TLS record length")
        if len(data) - offset - RECORD_HEADER < length:
            raise NeedMore
        out += data[offset + RECORD_HEADER : offset + RECORD_HEADER + length]
        offset += RECORD_HEADER + length
        if len(out) >= 4:
            wanted = 4 + int.from_bytes(out[1:4], "big")
            if wanted > MAX_HELLO:
                raise NotClientHello("ClientHello too long")
            if len(out) >= wanted:
                return bytes(out[:wanted])


def server_name(data: bytes) -> str:
    """Return the SNI host name of the ClientHello at the start of ``data`` ('' if none).

    Raises NeedMore when more bytes are needed, NotClientHello when it is not one.
    """
    hello = _handshake_bytes(data)
    if hello[0] != _CLIENT_HELLO:
        raise NotClientHello("first handshake message is not a ClientHello")
    body = hello[4:]
    try:
        offset = 2 + 32  # version, random
        offset += 1 + body[offset]  # session id
        offset += 2 + int.from_bytes(body[offset : offset + 2], "big")  # cipher suites
        offset += 1 + body[offset]  # compression methods
        if offset == len(body):
            return ""  # no extensions
        end = offset + 2 + int.from_bytes(body[offset : offset + 2], "big")
        offset += 2
        if end > len(body):
            raise NotClientHello("extensions run past the ClientHello")
        while offset + 4 <= end:
            kind = int.from_bytes(body[offset : offset + 2], "big")
            size = int.from_bytes(body[offset + 2 : offset + 4], "big")
            offset += 4
            if offset + size > end:
                raise NotClientHello("an extension runs past the list")
            if kind == _SERVER_NAME:
                return _host_name(body[offset : offset + size])
            offset += size
    except IndexError as err:
        raise NotClientHello("ClientHello cut short") from err
    return ""


def _host_name(extension: bytes) -> str:
    if len(extension) < 5:
        raise NotClientHello("server_name extension too short")
    offset = 2
    while offset + 3 <= len(extension):
        name_type = extension[offset]
        size = int.from_bytes(extension[offset + 1 : offset + 3], "big")
        name = extension[offset + 3 : offset + 3 + size]
        if len(name) != size:
            raise NotClientHello("server name cut short")
        if name_type == 0:
            try:
                text = name.decode("ascii")
            except UnicodeDecodeError as err:
                raise NotClientHello("server name is not ASCII") from err
            return text.lower().rstrip(".")
        offset += 3 + size
    return ""

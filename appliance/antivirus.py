"""Scanning uploads with ClamAV's clamd, over its local socket (INSTREAM).

Every upload is streamed to clamd while it is written; the file is committed
only after clamd answers "OK" (#8.12). An infected file is refused, audited
and reported to the referent. When clamd cannot be reached the upload is
refused, or, with ``when_clamd_down = "hold"``, kept aside unseen and scanned
when clamd is back (plain spaces only): never a silent accept.
PERSONNEL's plaintext goes to clamd over a local socket only; clamd's
``TemporaryDirectory`` must be a tmpfs (the appliance image mounts one), or
PERSONNEL would touch the disk in clear.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

COMMAND: Final = b"zINSTREAM\0"
MAX_CHUNK: Final = 1 << 20


class ScannerUnavailable(ConnectionError):
    """clamd did not answer (down, overloaded, or the stream was too long for it)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What clamd said about one stream."""

    clean: bool
    signature: str = ""


def parse_reply(reply: bytes) -> Verdict:
    """Read clamd's answer to INSTREAM (``stream: OK`` or ``stream: <name> FOUND``)."""
    text = reply.rstrip(b"\0\n").decode("utf-8", "replace")
    _, _, status = text.partition(": ")
    if status == "OK":
        return Verdict(True)
    if status.endswith(" FOUND"):
        return Verdict(False, status.removesuffix(" FOUND")[:200])
    raise ScannerUnavailable(f"clamd: {text[:200] or 'no answer'}")


class ScanSession:
    """One INSTREAM exchange: send() chunks, then verdict()."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Use an open connection on which INSTREAM was sent."""
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, socket_path: str, wait_seconds: float) -> ScanSession:
        """Connect and start INSTREAM, or raise :class:`ScannerUnavailable`."""
        try:
            async with asyncio.timeout(wait_seconds):
                reader, writer = await asyncio.open_unix_connection(socket_path)
                writer.write(COMMAND)
                await writer.drain()
        except (OSError, TimeoutError) as err:
            raise ScannerUnavailable(f"clamd unreachable at {socket_path}: {err}") from err
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        """Stream a piece of the file to clamd."""
        try:
            for start in range(0, len(data), MAX_CHUNK):
                piece = data[start : start + MAX_CHUNK]
                self._writer.write(struct.pack("!I", len(piece)) + piece)
            await self._writer.drain()
        except OSError as err:  # clamd hangs up past its StreamMaxLength
            raise ScannerUnavailable(f"clamd stopped reading: {err}") from err

    async def verdict(self, wait_seconds: float) -> Verdict:
        """End the stream and return clamd's verdict."""
        try:
            async with asyncio.timeout(wait_seconds):
                self._writer.write(struct.pack("!I", 0))
                await self._writer.drain()
                reply = await self._reader.readuntil(b"\0")
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as err:
            raise ScannerUnavailable(f"clamd gave no verdict: {err}") from err
        finally:
            self.close()
        return parse_reply(reply)

    def close(self) -> None:
        """Hang up."""
        self._writer.close()


def scan_file(socket_path: str, path: Path, wait_seconds: float) -> Verdict:
    """Scan a file already on disk (blocking: WebDAV's threads, or the executor)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(wait_seconds)
            conn.connect(socket_path)
            conn.sendall(COMMAND)
            with path.open("rb") as source:
                while chunk := source.read(MAX_CHUNK):
                    conn.sendall(struct.pack("!I", len(chunk)) + chunk)
            conn.sendall(struct.pack("!I", 0))
            reply = b""
            while not reply.endswith(b"\0"):
                data = conn.recv(4096)
                if not data:
                    break
                reply += data
    except OSError as err:
        raise ScannerUnavailable(f"clamd: {err}") from err
    return parse_reply(reply)


# A signature database (.cvd, or .cld once freshclam patched it) starts with a
# 512-byte header "ClamAV-VDB:build time:version:sigs:level:md5:dsig:builder:stime";
# the build time holds colons itself, so the epoch "stime" is read from the end.
DATABASE_HEADER: Final = b"ClamAV-VDB:"


def signatures_built_at(database_dir: Path) -> float | None:
    """Return when the newest signature database was built (epoch), or None without one."""
    newest: float | None = None
    for pattern in ("*.cvd", "*.cld"):
        for path in database_dir.glob(pattern):
            try:
                with path.open("rb") as handle:
                    header = handle.read(512)
            except OSError:
                continue
            if not header.startswith(DATABASE_HEADER):
                continue
            stamp = header.rstrip(b" \0").rsplit(b":", 1)[-1]
            if stamp.isdigit():
                newest = max(newest or 0.0, float(stamp))
    return newest

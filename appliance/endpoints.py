"""Small shared checks: listener endpoints and file digests, used by every service's config
and by both the backups and the cache."""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path


def check_endpoint(value: str, example_port: int = 53) -> str:
    """Return ``ADDRESS:PORT`` unchanged, or raise ValueError saying what is expected."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r}: expected ADDRESS:PORT (IPv6 as [::1]:{example_port})")
    ipaddress.ip_address(host)
    return value


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file (blocking: run it in the executor)."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

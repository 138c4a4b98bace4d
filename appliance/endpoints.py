"""Listener endpoints (``ADDRESS:PORT``), checked the same way in every service's config."""

from __future__ import annotations

import ipaddress


def check_endpoint(value: str, example_port: int = 53) -> str:
    """Return ``ADDRESS:PORT`` unchanged, or raise ValueError saying what is expected."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r}: expected ADDRESS:PORT (IPv6 as [::1]:{example_port})")
    ipaddress.ip_address(host)
    return value

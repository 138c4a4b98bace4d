"""Listener endpoints (``ADDRESS:PORT``), checked the same way in every service's config."""

from __future__ import annotations

import ipaddress

from appliance.i18n import N_
from appliance.problems import UserError


def check_endpoint(value: str, example_port: int = 53) -> str:
    """Return ``ADDRESS:PORT`` unchanged, or refuse it saying what is expected."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    expected = N_("« %(value)s » : ADRESSE:PORT est attendu (en IPv6 : [::1]:%(port)s)")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(expected, value=value, port=example_port)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UserError(expected, value=value, port=example_port) from None
    return value


def split_endpoint(value: str) -> tuple[str, int]:
    """Split a checked ``ADDRESS:PORT`` into the address and the port (IPv6 as [::1]:53)."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)

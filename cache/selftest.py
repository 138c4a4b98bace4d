""" "Does it work?": the referent's check that devices really reach the update cache.

Run from the web process on the box itself, each check asks what a device
would ask: the cache's listener, the filter's answer for a steered name (A is
the box, AAAA is empty), the HTTPS pass-through's port. The result says what
failed in words, not only in colour (RGAA).
"""

from __future__ import annotations

import socket
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import dnslib

from cache.config import CacheConfig, split_origin
from filter.config import FilterConfig

if TYPE_CHECKING:
    from appliance.config import PreauConfig

PROBE_NAME: Final = "download.windowsupdate.com"
TIMEOUT: Final = 2.0


@dataclass(frozen=True, slots=True)
class Check:
    """One check: what was asked, whether it held, what was seen."""

    what: str
    ok: bool
    seen: str


def _listener(address: str) -> Check:
    host, port = split_origin(address)
    url = f"http://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            body = response.read(20).decode(errors="replace").strip()
    except OSError as err:
        return Check(f"cache {address}", False, str(err))
    return Check(f"cache {address}", body == "ok", body)


def _ask(resolver: str, name: str, qtype: str) -> list[str]:
    host, port = split_origin(resolver)
    query = dnslib.DNSRecord.question(name, qtype)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendto(query.pack(), (host, port or 53))
        answer = dnslib.DNSRecord.parse(sock.recv(4096))
    return [str(rr.rdata) for rr in answer.rr if rr.rtype == getattr(dnslib.QTYPE, qtype)]


def _steering(config: PreauConfig) -> list[Check]:
    steering = config.section(FilterConfig).cache_steering
    if not steering.enabled:
        return [Check("DNS steering", False, "off ([filter.cache_steering] enabled = false)")]
    resolver = config.section(FilterConfig).listen[0].replace("0.0.0.0", "127.0.0.1")
    checks = []
    try:
        seen_a = _ask(resolver, PROBE_NAME, "A")
        checks.append(Check(f"{PROBE_NAME} A", seen_a == [steering.ipv4], ", ".join(seen_a)))
        seen_aaaa = _ask(resolver, PROBE_NAME, "AAAA")
        checks.append(Check(f"{PROBE_NAME} AAAA", not seen_aaaa, ", ".join(seen_aaaa) or "—"))
    except OSError as err:
        checks.append(Check(f"DNS {resolver}", False, str(err)))
    return checks


def _passthrough(address: str) -> Check:
    host, port = split_origin(address)
    try:
        socket.create_connection((host, port or 443), TIMEOUT).close()
    except OSError as err:
        return Check(f"HTTPS {address}", False, str(err))
    return Check(f"HTTPS {address}", True, "listening")


def run_checks(config: PreauConfig) -> list[Check]:
    """Run every check (blocking: the executor); return them in order."""
    if not config.section(CacheConfig).enabled:
        return [Check("cache", False, "off ([cache] enabled = false)")]
    checks = [_listener(address) for address in config.section(CacheConfig).listen]
    checks += _steering(config)
    checks += [_passthrough(address) for address in config.section(CacheConfig).tls_passthrough]
    if (
        config.section(FilterConfig).cache_steering.enabled
        and not config.section(CacheConfig).tls_passthrough
    ):
        checks.append(
            Check("HTTPS pass-through", False, "steered names need [cache] tls_passthrough")
        )
    return checks

"""The walled garden: names a device may reach before login (ENT, charter, OCSP).

Pure. The portal asks the appliance's own resolver (the one the phones use,
so a CDN gives the same addresses to both) for each name, and the answers'
addresses go into ``garden_v4`` for as long as their TTL says, plus a grace,
so a name that moves is dropped by the kernel without a sweeper. Names are
refreshed before their TTL runs out.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from dnslib import QTYPE, RR, DNSError, DNSRecord

GRACE_SECONDS: Final = 60
MIN_REFRESH_SECONDS: Final = 20
MAX_REFRESH_SECONDS: Final = 3600
MAX_CNAME_CHAIN: Final = 8


class GardenError(ValueError):
    """A walled-garden name or answer that cannot be used."""


def check_name(name: str) -> str:
    """Return a walled-garden name in lower case, or refuse it."""
    clean = name.strip().rstrip(".").lower()
    labels = clean.split(".")
    if (
        not clean
        or len(clean) > 253
        or len(labels) < 2
        or any(not label or len(label) > 63 for label in labels)
        or not all(c.isascii() and (c.isalnum() or c in "-.") for c in clean)
    ):
        raise GardenError(f"{name!r} is not a host name")
    return clean


def build_query(name: str, query_id: int) -> bytes:
    """Return an A query for ``name``."""
    record = DNSRecord.question(check_name(name), "A")
    record.header.id = query_id
    return bytes(record.pack())


@dataclass(frozen=True, slots=True)
class GardenAnswer:
    """Addresses of one name, and how long they may stay open."""

    addresses: dict[str, int]  # IPv4 → seconds
    refresh_in: float
    follow: str = ""  # a CNAME target the resolver did not chase: ask for it next


def parse_answer(name: str, query_id: int, packet: bytes) -> GardenAnswer:
    """Read a resolver's answer: the A records reached from ``name`` through CNAMEs."""
    try:
        reply = DNSRecord.parse(packet)
    except (DNSError, ValueError, IndexError) as err:
        raise GardenError(f"unreadable answer for {name}") from err
    if reply.header.id != query_id or not reply.header.qr:
        raise GardenError(f"answer for {name} does not match the query")
    wanted = {check_name(name)}
    records: list[RR] = list(reply.rr)
    for _ in range(MAX_CNAME_CHAIN):
        more = {
            str(rr.rdata).rstrip(".").lower()
            for rr in records
            if rr.rtype == QTYPE.CNAME and str(rr.rname).rstrip(".").lower() in wanted
        }
        if more <= wanted:
            break
        wanted |= more
    addresses: dict[str, int] = {}
    for rr in records:
        if rr.rtype != QTYPE.A or str(rr.rname).rstrip(".").lower() not in wanted:
            continue
        address = str(ipaddress.IPv4Address(str(rr.rdata)))
        addresses[address] = max(addresses.get(address, 0), int(rr.ttl) + GRACE_SECONDS)
    ttls = [seconds - GRACE_SECONDS for seconds in addresses.values()]
    refresh = min(ttls) * 0.8 if ttls else MIN_REFRESH_SECONDS
    follow = ""
    if not addresses:
        targets = [
            str(rr.rdata).rstrip(".").lower()
            for rr in records
            if rr.rtype == QTYPE.CNAME and str(rr.rname).rstrip(".").lower() in wanted
        ]
        follow = targets[-1] if targets else ""
    return GardenAnswer(
        addresses, max(MIN_REFRESH_SECONDS, min(MAX_REFRESH_SECONDS, refresh)), follow
    )

"""Wire-format answer cache: TTLs respected, negative answers, serve-stale.

Entries are upstream answers stored as bytes with the offsets of their TTL
fields, so a hit is a copy, an ID patch and a TTL patch: no parsing. Negative
answers are cached for the SOA-derived time of RFC 2308. Expired entries are
kept ``stale_seconds`` longer and served (TTL 30, RFC 8767) only when every
upstream fails. Policy is decided before the cache, so a new override or list
applies at once: the cache never holds a blocked answer.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from filter import wire

STALE_TTL: Final = 30
MIN_TTL: Final = 0
MAX_TTL: Final = 86_400

CacheKey = tuple[bytes, int, int, bool]


@dataclass(slots=True)
class _Entry:
    packet: bytes
    ttl_offsets: tuple[int, ...]
    ttls: tuple[int, ...]
    stored_at: float
    expires_at: float


class AnswerCache:
    """A bounded LRU of upstream answers."""

    def __init__(self, max_entries: int, stale_seconds: float) -> None:
        """Start empty."""
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._max = max_entries
        self._stale = stale_seconds
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        """Return the number of entries."""
        return len(self._entries)

    def store(self, key: CacheKey, packet: bytes, now: float) -> None:
        """Keep an upstream answer for as long as its records allow."""
        try:
            _, _, _, _, _, records = wire.walk_response(packet)
            rcode = wire.rcode_of(packet)
        except wire.WireError:
            return
        answers = [r for r in records if r.section == 0]
        cacheable = [r for r in records if r.rtype != wire.TYPE_OPT]
        if rcode == wire.RCODE_NOERROR and answers:
            ttl = min(r.ttl for r in answers)
        elif rcode in (wire.RCODE_NOERROR, wire.RCODE_NXDOMAIN):
            negative = wire.negative_ttl(packet, records)
            if negative is None:
                return  # RFC 2308 §5: no SOA, no negative caching
            ttl = negative
        else:
            return  # SERVFAIL, REFUSED…: never cached
        ttl = max(MIN_TTL, min(ttl, MAX_TTL))
        if ttl == 0:
            return
        self._entries[key] = _Entry(
            packet,
            tuple(r.ttl_offset for r in cacheable),
            tuple(r.ttl for r in cacheable),
            now,
            now + ttl,
        )
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def lookup(
        self,
        key: CacheKey,
        query: wire.Query,
        now: float,
        *,
        max_ttl: int | None = None,
        stale: bool = False,
        same_question: bool = True,
    ) -> bytes | None:
        """Return a cached answer re-addressed to ``query``, or None.

        With ``same_question`` the client's question bytes (its 0x20 case) are
        copied in; a SafeSearch target keeps its own question.
        """
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if now >= entry.expires_at:
            if now >= entry.expires_at + self._stale:
                del self._entries[key]
                self.misses += 1
                return None
            if not stale:
                self.misses += 1
                return None
        self._entries.move_to_end(key)
        self.hits += 1
        age = int(now - entry.stored_at)
        packet = bytearray(entry.packet)
        struct.pack_into("!H", packet, 0, query.id)
        if same_question:
            packet[12 : 12 + len(query.question)] = query.question
        for offset, ttl in zip(entry.ttl_offsets, entry.ttls, strict=True):
            remaining = STALE_TTL if stale else max(0, ttl - age)
            if max_ttl is not None:
                remaining = min(remaining, max_ttl)
            struct.pack_into("!I", packet, offset, remaining)
        return bytes(packet)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()

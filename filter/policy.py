"""The filtering decision for one name and one client group, as a pure function.

Order of rules, first match wins (the académie practice: allowlists first):

1. timed overrides on the client (#9.2, #9.6): block all, allowlist only (an
   exam list), block these domains, and tightened categories (added to 5.);
2. bypass resistance: NXDOMAIN for the Firefox DoH canary and iCloud Private
   Relay, NODATA for ``resolver.arpa`` (DDR);
3. the group's and the site's allowlists;
4. the group's and the site's denylists;
5. denied categories of the compiled lists (UT1 …);
6. SafeSearch: a CNAME to the engine's safe host for A, AAAA and HTTPS;
7. everything else is forwarded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from filter.compiled_list import CompiledList
from filter.lists import EXCEPTION, match_suffix, suffixes
from filter.wire import TYPE_A, TYPE_AAAA, TYPE_HTTPS

Action = Literal["allow", "block", "nxdomain", "nodata", "cname"]
OverrideAction = Literal["block_all", "allowlist_only", "block_domains", "tighten"]
YouTubeMode = Literal["strict", "moderate", "off"]

FIREFOX_CANARY: Final = b"use-application-dns.net"
PRIVATE_RELAY: Final = frozenset({b"mask.icloud.com", b"mask-h2.icloud.com"})
DDR_ZONE: Final = b"resolver.arpa"

_GOOGLE: Final = re.compile(rb"^(www\.)?google\.(com|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})$")
_SAFE_TYPES: Final = frozenset({TYPE_A, TYPE_AAAA, TYPE_HTTPS})


@dataclass(frozen=True, slots=True)
class SafeSearch:
    """Which engines are forced to their safe mode for a group."""

    google: bool = True
    bing: bool = True
    youtube: YouTubeMode = "moderate"
    duckduckgo: bool = True
    brave: bool = True

    def target(self, name: bytes) -> bytes | None:
        """Return the safe host ``name`` must be a CNAME to, or None."""
        if self.google and _GOOGLE.match(name):
            return b"forcesafesearch.google.com"
        if self.bing and name in (b"www.bing.com", b"bing.com"):
            return b"strict.bing.com"
        if self.duckduckgo and name in (b"duckduckgo.com", b"www.duckduckgo.com"):
            return b"safe.duckduckgo.com"
        if self.brave and name == b"search.brave.com":
            return b"forcesafe.search.brave.com"
        if self.youtube != "off" and name in _YOUTUBE:
            return (
                b"restrict.youtube.com"
                if self.youtube == "strict"
                else (b"restrictmoderate.youtube.com")
            )
        return None


_YOUTUBE: Final = frozenset(
    {
        b"www.youtube.com",
        b"m.youtube.com",
        b"youtubei.googleapis.com",
        b"youtube.googleapis.com",
        b"www.youtube-nocookie.com",
    }
)


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    """What one group of clients may reach."""

    name: str
    denied: frozenset[str]
    allow: frozenset[bytes] = frozenset()
    deny: frozenset[bytes] = frozenset()
    safesearch: SafeSearch = field(default_factory=SafeSearch)
    block_bypass: bool = True
    blockpage: bool = False
    max_ttl: int | None = None
    log_blocked: bool = True


@dataclass(frozen=True, slots=True)
class Override:
    """A teacher's timed control on some clients (#9.2, #9.6)."""

    id: int
    action: OverrideAction
    expires_at: float
    domains: frozenset[bytes] = frozenset()
    categories: frozenset[str] = frozenset()
    label: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """What to answer, and why (for EDE, logs and ``preau filter explain``)."""

    action: Action
    rule: str
    category: str = ""
    list_name: str = ""
    matched: bytes = b""
    target: bytes = b""

    @property
    def blocked(self) -> bool:
        """Return whether the answer withholds the name."""
        return self.action in ("block", "nxdomain", "nodata")


ALLOW: Final = Decision("allow", "default")

# (list name, categories) for the name or a parent of it, longest first.
Matches = Callable[[bytes], Iterable[tuple[str, bytes, tuple[str, ...]]]]


OVERRIDE_PRECEDENCE: Final = {"block_all": 0, "allowlist_only": 1, "block_domains": 2, "tighten": 3}


def _precedence(override: Override) -> int:
    return OVERRIDE_PRECEDENCE[override.action]


def decide(
    name: bytes,
    qtype: int,
    group: GroupPolicy,
    overrides: Sequence[Override],
    matches: Matches,
    *,
    site_allow: frozenset[bytes] = frozenset(),
    site_deny: frozenset[bytes] = frozenset(),
) -> Decision:
    """Return the decision for ``name`` queried by a client of ``group``.

    Overrides apply most restrictive first whatever order they come in: a
    "block all" beats an allowlist, which beats a list of blocked domains.
    """
    denied = group.denied
    for override in sorted(overrides, key=_precedence):
        if override.action == "block_all":
            return Decision("block", f"override:{override.id}:block_all", "override")
        if override.action == "allowlist_only":
            hit = match_suffix(name, override.domains)
            if hit is None:
                return Decision("block", f"override:{override.id}:allowlist_only", "override")
            return Decision("allow", f"override:{override.id}:allowlist_only", matched=hit)
        if override.action == "block_domains":
            hit = match_suffix(name, override.domains)
            if hit is not None:
                return Decision(
                    "block", f"override:{override.id}:block_domains", "override", matched=hit
                )
        elif override.action == "tighten":
            denied = denied | override.categories
    if group.block_bypass:
        if name == FIREFOX_CANARY or name in PRIVATE_RELAY:
            return Decision("nxdomain", "bypass:" + name.decode(), "bypass", matched=name)
        if name == DDR_ZONE or name.endswith(b"." + DDR_ZONE):
            return Decision("nodata", "bypass:ddr", "bypass", matched=DDR_ZONE)
    for source, names in (("group", group.allow), ("site", site_allow)):
        hit = match_suffix(name, names)
        if hit is not None:
            return Decision("allow", f"allow:{source}", matched=hit)
    for source, names in (("group", group.deny), ("site", site_deny)):
        hit = match_suffix(name, names)
        if hit is not None:
            return Decision("block", f"deny:{source}", "local", matched=hit)
    if denied:
        excepted: set[str] = set()
        for list_name, matched, categories in matches(name):
            # Longest match first: an adblock @@ exception for this name or a parent
            # un-blocks it for the rest of that list (its broader entries).
            if list_name in excepted:
                continue
            if EXCEPTION in categories:
                excepted.add(list_name)
                continue
            for category in categories:
                if category in denied:
                    return Decision(
                        "block",
                        f"category:{group.name}",
                        category,
                        list_name,
                        matched,
                    )
    if qtype in _SAFE_TYPES:
        target = group.safesearch.target(name)
        if target is not None:
            return Decision("cname", "safesearch", target=target, matched=name)
    return ALLOW


def list_matches(lists: Sequence[CompiledList]) -> Matches:
    """Return a ``matches`` function over compiled lists (name and parents)."""

    def matches(name: bytes) -> Iterator[tuple[str, bytes, tuple[str, ...]]]:
        for candidate in suffixes(name):
            for compiled in lists:
                found = compiled.categories_of(candidate)
                if found:
                    yield compiled.name, candidate, found

    return matches

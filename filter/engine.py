"""The filter's sans-I/O core: a packet in, an answer (or a forward) out.

:meth:`FilterEngine.handle` takes a client's packet, its address and the time
and returns the bytes to send back, ``None`` (drop), or a :class:`Forward`
the adapter must resolve upstream and hand back to :meth:`FilterEngine.finish`.
Everything that decides (access list, rate limit, policy, cache, truncation)
is here and tested without sockets; :mod:`filter.service` owns the sockets.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from dnslib import CNAME, QTYPE, RR, DNSLabel, DNSRecord

from filter import wire
from filter.cache import AnswerCache, CacheKey
from filter.clients import Client, ClientMap
from filter.compiled_list import CompiledList
from filter.config import FilterConfig
from filter.lists import normalise
from filter.policy import (
    Decision,
    GroupPolicy,
    Override,
    SafeSearch,
    decide,
    list_matches,
)
from filter.ratelimit import RateLimiter

BLOCKED_TTL: Final = 60
RFC8482_TTL: Final = 3600
STEERING_TTL: Final = 300
# Apple's content caching: a Mac cache registers, devices look for one (Apple's
# "Use Apple products on enterprise networks"). Counted, never steered.
APPLE_CACHE_SIGNALS: Final = {
    b"lcdn-registration.apple.com": "registration",
    b"lcdn-locator.apple.com": "lookup",
}
APPLE_TXT_TTL: Final = 10800  # Apple's documented example
DECISION_MEMO_SIZE: Final = 20_000
_UNSUPPORTED_TYPES: Final = frozenset({251, 252})  # IXFR, AXFR


@dataclass(frozen=True, slots=True)
class TargetedOverride:
    """An override and the clients it applies to."""

    kind: str  # class | subgroup | group | clients
    target: str
    override: Override
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    people: frozenset[str] = frozenset()  # a subgroup's pupils, resolved when loaded

    def applies_to(self, client: Client) -> bool:
        """Return whether ``client`` is targeted."""
        if self.kind == "class":
            return bool(client.class_name) and client.class_name == self.target
        if self.kind == "subgroup":
            return bool(client.person_id) and client.person_id in self.people
        if self.kind == "group":
            return client.group == self.target
        try:
            address = ipaddress.ip_address(client.address)
        except ValueError:
            return False
        return any(address.version == n.version and address in n for n in self.networks)


@dataclass(slots=True)
class Forward:
    """A query the adapter must resolve upstream."""

    query: wire.Query
    client: Client
    policy: GroupPolicy
    decision: Decision
    name: bytes  # what to ask upstream (the SafeSearch target for a CNAME)
    key: CacheKey
    tcp: bool


def _domain_set(values: Sequence[str]) -> frozenset[bytes]:
    return frozenset(name for name in (normalise(v) for v in values) if name is not None)


def group_policies(config: FilterConfig) -> dict[str, GroupPolicy]:
    """Build each group's policy from the config."""
    policies = {}
    for group in config.groups:
        safe = group.safesearch
        policies[group.name] = GroupPolicy(
            name=group.name,
            denied=frozenset(group.denied_categories),
            allow=_domain_set(group.allow),
            deny=_domain_set(group.deny),
            safesearch=SafeSearch(
                google=safe.google,
                bing=safe.bing,
                youtube=safe.youtube,
                duckduckgo=safe.duckduckgo,
                brave=safe.brave,
            ),
            block_bypass=group.block_bypass,
            blockpage=group.answer == "blockpage",
            max_ttl=group.max_ttl or None,
            log_blocked=group.log_blocked,
        )
    return policies


class FilterEngine:
    """Decide and answer DNS queries for the site's clients."""

    def __init__(self, config: FilterConfig) -> None:
        """Build policies, the access list, the rate limiter and the cache."""
        self.config = config
        self.policies = group_policies(config)
        self._site_allow = _domain_set(config.allow)
        self._site_deny = _domain_set(config.deny)
        self._acl = [ipaddress.ip_network(n, strict=False) for n in config.client_networks]
        self._acl_memo: dict[str, bool] = {}
        self.limiter = RateLimiter(
            config.rate_limit_qps, config.rate_limit_burst, config.rate_limit_slip
        )
        self.cache = AnswerCache(config.cache_entries, config.serve_stale_seconds)
        self.lists: list[CompiledList] = []
        self._matches = list_matches(self.lists)
        self.clients = ClientMap([], {}, {})
        self.overrides: list[TargetedOverride] = []
        self._blockpage_v4 = (
            ipaddress.IPv4Address(config.blockpage_ipv4).packed if config.blockpage_ipv4 else b""
        )
        self._blockpage_v6 = (
            ipaddress.IPv6Address(config.blockpage_ipv6).packed if config.blockpage_ipv6 else b""
        )
        # (group, category) → [queries, blocked]; (group, domain, category) → count.
        self.counters: Counter[tuple[str, str, str]] = Counter()
        self.blocked_log: Counter[tuple[str, str, str]] = Counter()
        self.stats: Counter[str] = Counter()
        self._steer_exact: frozenset[bytes] = frozenset()
        self._steer_below: frozenset[bytes] = frozenset()
        self._steer_v4 = b""
        self._local: dict[bytes, tuple[bytes, bytes]] = {}
        self._apt_srv: frozenset[bytes] = frozenset()
        self._apt_port = config.cache_steering.apt_proxy_port
        self._apple_txt: frozenset[bytes] = frozenset()
        self._apple_rdata = b""
        # Apple content caching seen on the network: counts and last time, no address.
        self.apple_cache: Counter[str] = Counter()
        self.apple_cache_last: dict[str, float] = {}
        # Recent decisions for clients without overrides: most traffic repeats names.
        self._decisions: dict[tuple[bytes, int, str], Decision] = {}

    # -- state swaps (each is one reference assignment: no query sees half) ------

    def set_lists(self, lists: list[CompiledList]) -> list[CompiledList]:
        """Serve from ``lists`` from now on; return the previous ones to close."""
        previous = self.lists
        self.lists = list(lists)
        self._matches = list_matches(self.lists)
        self._decisions = {}
        return previous

    def set_steering(
        self,
        names: Sequence[str],
        ipv4: str,
        apt_domains: Sequence[str],
        apple_ranges: Sequence[str] = (),
    ) -> None:
        """Answer ``names`` (exact, or ``*.suffix``) with the cache's IPv4 address, and no AAAA.

        In each search domain, ``_apt_proxy._tcp`` names the cache for apt and,
        when the site gives its public ranges, ``_aaplcache._tcp`` carries them
        for Apple's content caching (the record Apple documents; Apple traffic
        itself is never steered).
        """
        apple = ("prs=" + ",".join(apple_ranges)).encode() if apple_ranges else b""
        self._apple_txt = (
            frozenset(b"_aaplcache._tcp." + d.lower().encode() for d in apt_domains)
            if apple
            else frozenset()
        )
        self._apple_rdata = bytes([len(apple)]) + apple if apple else b""
        self._steer_exact = frozenset(n.encode() for n in names if not n.startswith("*."))
        self._steer_below = frozenset(n[2:].encode() for n in names if n.startswith("*."))
        self._apt_srv = frozenset(b"_apt_proxy._tcp." + d.lower().encode() for d in apt_domains)
        # WPAD: browsers set to detect proxy settings ask for wpad.<their domain>.
        self._steer_exact |= frozenset(b"wpad." + d.lower().encode() for d in apt_domains)
        self._steer_v4 = ipaddress.IPv4Address(ipv4).packed if ipv4 else b""

    def set_local_names(self, names: dict[str, tuple[str, str]]) -> None:
        """Answer these names with the box's own addresses (name → (IPv4, IPv6), "" for none).

        The captive portal's host name is one: every URL a phone gets before
        login uses it, so the box must answer it itself, for every group,
        before any policy (issue #11).
        """
        self._local = {
            name.lower().rstrip(".").encode(): (
                ipaddress.IPv4Address(v4).packed if v4 else b"",
                ipaddress.IPv6Address(v6).packed if v6 else b"",
            )
            for name, (v4, v6) in names.items()
        }

    def _local_answer(self, query: wire.Query) -> bytes | None:
        found = self._local.get(query.qname)
        if found is None:
            return None
        address = {wire.TYPE_A: found[0], wire.TYPE_AAAA: found[1]}.get(query.qtype, b"")
        if not address:
            return wire.response(query, wire.RCODE_NOERROR, authority=[self._soa(query)])
        answer = wire.record(wire.QNAME_POINTER, query.qtype, STEERING_TTL, address)
        return wire.response(query, wire.RCODE_NOERROR, [answer])

    def steered(self, name: bytes) -> bool:
        """Return whether ``name`` is answered with the cache's address."""
        if not self._steer_v4:
            return False
        if name in self._steer_exact:
            return True
        labels = name.split(b".")
        return any(b".".join(labels[i:]) in self._steer_below for i in range(1, len(labels) - 1))

    def _steering_answer(self, query: wire.Query) -> bytes | None:
        """Answer a steered name: A is the cache, AAAA and HTTPS are empty (no bypass)."""
        if query.qtype == wire.TYPE_TXT and query.qname in self._apple_txt:
            txt = wire.record(wire.QNAME_POINTER, wire.TYPE_TXT, APPLE_TXT_TTL, self._apple_rdata)
            return wire.response(query, wire.RCODE_NOERROR, [txt])
        if query.qtype == wire.TYPE_SRV and query.qname in self._apt_srv:
            target = b"apt-proxy." + query.qname[len(b"_apt_proxy._tcp.") :]
            rdata = struct.pack("!HHH", 0, 0, self._apt_port) + wire.encode_name(target)
            answer = wire.record(wire.QNAME_POINTER, wire.TYPE_SRV, STEERING_TTL, rdata)
            return wire.response(query, wire.RCODE_NOERROR, [answer])
        steered = self.steered(query.qname) or (
            query.qname.startswith(b"apt-proxy.")
            and b"_apt_proxy._tcp." + query.qname[len(b"apt-proxy.") :] in self._apt_srv
        )
        if not steered or query.qtype not in (wire.TYPE_A, wire.TYPE_AAAA, wire.TYPE_HTTPS):
            return None
        self.stats["steered"] += 1
        if query.qtype == wire.TYPE_A:
            answer = wire.record(wire.QNAME_POINTER, wire.TYPE_A, STEERING_TTL, self._steer_v4)
            return wire.response(query, wire.RCODE_NOERROR, [answer])
        return wire.response(query, wire.RCODE_NOERROR, authority=[self._soa(query)])

    def set_clients(self, clients: ClientMap) -> None:
        """Use a new address → group map."""
        self.clients = clients

    def set_overrides(self, overrides: list[TargetedOverride]) -> None:
        """Use a new set of overrides."""
        self.overrides = overrides

    def set_local_allow(self, allowed: dict[str, list[str]]) -> None:
        """Add the referent's per-group allowed domains to the group policies."""
        base = group_policies(self.config)
        self.policies = {
            name: replace(policy, allow=policy.allow | _domain_set(allowed.get(name, [])))
            for name, policy in base.items()
        }
        self._decisions = {}

    # -- decisions -----------------------------------------------------------------

    def _allowed_client(self, address: str) -> bool:
        allowed = self._acl_memo.get(address)
        if allowed is None:
            try:
                ip = ipaddress.ip_address(address.split("%", 1)[0])
            except ValueError:
                allowed = False
            else:
                if ip.version == 6 and ip.ipv4_mapped is not None:
                    ip = ip.ipv4_mapped
                allowed = any(ip.version == n.version and ip in n for n in self._acl)
            if len(self._acl_memo) > 65_536:
                self._acl_memo.clear()
            self._acl_memo[address] = allowed
        return allowed

    def overrides_for(self, client: Client, now: float) -> list[Override]:
        """Return the overrides in force for ``client`` (the policy orders them)."""
        return [
            t.override
            for t in self.overrides
            if t.override.expires_at > now and t.applies_to(client)
        ]

    def decide(self, name: bytes, qtype: int, client: Client, now: float) -> Decision:
        """Return the decision for ``client`` asking ``name``."""
        overrides = self.overrides_for(client, now) if self.overrides else []
        key = (name, qtype, client.group)
        if not overrides:
            known = self._decisions.get(key)
            if known is not None:
                return known
        policy = self.policies.get(client.group) or self.policies["unknown"]
        decision = decide(
            name,
            qtype,
            policy,
            overrides,
            self._matches,
            site_allow=self._site_allow,
            site_deny=self._site_deny,
        )
        if not overrides:
            if len(self._decisions) >= DECISION_MEMO_SIZE:
                self._decisions = {}
            self._decisions[key] = decision
        return decision

    def explain(self, name: str, client: Client, now: float, qtype: int = wire.TYPE_A) -> Decision:
        """Return the decision for a name typed by a person (``preau filter explain``)."""
        normalised = normalise(name)
        if normalised is None:
            raise ValueError(f"{name!r} is not a domain name")
        return self.decide(normalised, qtype, client, now)

    # -- the packet path -------------------------------------------------------------

    def handle(
        self, packet: bytes, address: str, now: float, *, tcp: bool = False
    ) -> bytes | Forward | None:
        """Answer a client packet, or say what to forward; None means drop."""
        self.stats["queries"] += 1
        if not self._allowed_client(address):
            self.stats["refused"] += 1
            return wire.error_response(packet, wire.RCODE_REFUSED)
        if not tcp:
            verdict = self.limiter.check(address, now)
            if verdict != "pass":
                self.stats["rate_limited"] += 1
                if verdict == "drop":
                    return None
                try:
                    query = wire.parse_query(packet)
                except wire.WireError:
                    return None
                return wire.response(query, wire.RCODE_NOERROR, truncated=True)
        try:
            query = wire.parse_query(packet)
        except wire.WireError:
            self.stats["malformed"] += 1
            return wire.error_response(packet, wire.RCODE_FORMERR)
        if query.opcode != 0:
            return wire.response(query, wire.RCODE_NOTIMP)
        if query.qclass != wire.CLASS_IN or query.qtype in _UNSUPPORTED_TYPES:
            return wire.response(query, wire.RCODE_REFUSED)
        if self._local:
            local = self._local_answer(query)
            if local is not None:
                return local
        signal = APPLE_CACHE_SIGNALS.get(query.qname)
        if signal is not None:
            self.apple_cache[signal] += 1
            self.apple_cache_last[signal] = now
        client = self.clients.resolve(address)
        policy = self.policies.get(client.group) or self.policies["unknown"]
        decision = self.decide(query.qname, query.qtype, client, now)
        self.counters[(client.group, decision.category, "q")] += 1
        if decision.blocked:
            self.counters[(client.group, decision.category, "b")] += 1
            if policy.log_blocked:
                self.blocked_log[(client.group, decision.matched.decode(), decision.category)] += 1
            self.stats["blocked"] += 1
            return self._fit(self.blocked_answer(query, policy, decision), query, tcp)
        if self._steer_v4:
            steered = self._steering_answer(query)
            if steered is not None:
                return steered
        if query.qtype == wire.TYPE_ANY:
            hinfo = wire.record(
                wire.QNAME_POINTER, wire.TYPE_HINFO, RFC8482_TTL, b"\x07RFC8482\x00"
            )
            return wire.response(query, wire.RCODE_NOERROR, [hinfo])
        name = decision.target if decision.action == "cname" else query.qname
        key: CacheKey = (
            name,
            query.qtype,
            query.qclass * 2 + (query.edns_size is not None),
            query.dnssec_ok,
        )
        forward = Forward(query, client, policy, decision, name, key, tcp)
        cached = self.cache.lookup(
            key, query, now, max_ttl=policy.max_ttl, same_question=decision.action != "cname"
        )
        if cached is not None:
            self.stats["cache_hits"] += 1
            return self._fit(self._shape(forward, cached), query, tcp)
        return forward

    def finish(self, forward: Forward, upstream: bytes | None, now: float) -> bytes:
        """Turn an upstream answer (None: every upstream failed) into the client's answer."""
        query = forward.query
        if upstream is None:
            stale = self.cache.lookup(
                forward.key,
                query,
                now,
                max_ttl=forward.policy.max_ttl,
                stale=True,
                same_question=forward.decision.action != "cname",
            )
            if stale is not None:
                self.stats["stale"] += 1
                return self._fit(self._shape(forward, stale), query, forward.tcp)
            self.stats["servfail"] += 1
            return wire.response(query, wire.RCODE_SERVFAIL)
        try:
            _, _, _, _, _, records = wire.walk_response(upstream)
        except wire.WireError:
            self.stats["servfail"] += 1
            return wire.response(query, wire.RCODE_SERVFAIL)
        adapted = upstream if query.edns_size is not None else wire.without_opt(upstream, records)
        self.cache.store(forward.key, adapted, now)
        same = forward.decision.action != "cname"
        answer = self.cache.lookup(
            forward.key, query, now, max_ttl=forward.policy.max_ttl, same_question=same
        )
        if answer is None:  # not cacheable (SERVFAIL, TTL 0…): pass it on as it came
            answer = wire.with_id(adapted, query.id)
            if same:
                answer = answer[:12] + query.question + answer[12 + len(query.question) :]
        return self._fit(self._shape(forward, answer), query, forward.tcp)

    def _shape(self, forward: Forward, answer: bytes) -> bytes:
        if forward.decision.action != "cname":
            return answer
        return self._safesearch_answer(forward, answer)

    def _safesearch_answer(self, forward: Forward, target_answer: bytes) -> bytes:
        # Off the hot path (SafeSearch names only): dnslib re-encodes the chain.
        query = forward.query
        try:
            upstream = DNSRecord.parse(target_answer)
        except Exception:
            return wire.response(query, wire.RCODE_SERVFAIL)
        qname = DNSLabel(query.qname.decode())
        ttl = forward.policy.max_ttl if forward.policy.max_ttl is not None else 300
        reply = DNSRecord.parse(wire.response(query, upstream.header.rcode))
        reply.rr = [RR(qname, QTYPE.CNAME, rdata=CNAME(forward.name.decode()), ttl=ttl)]
        reply.rr += [rr for rr in upstream.rr if rr.rtype in (query.qtype, QTYPE.CNAME)]
        # dnslib packs into a bytearray: the service tells answers from forwards by type.
        return bytes(reply.pack())

    def blocked_answer(self, query: wire.Query, policy: GroupPolicy, decision: Decision) -> bytes:
        """Build the answer for a blocked name, with an Extended DNS Error saying why."""
        why = decision.category or "blocked"
        if decision.list_name:
            why = f"{why} ({decision.list_name})"
        ede = (wire.EDE_BLOCKED, f"Préau: {why}; rule {decision.rule}")
        authority = [self._soa(query)]
        if decision.action == "nodata":
            return wire.response(query, wire.RCODE_NOERROR, authority=authority, ede=ede)
        if decision.action == "block" and policy.blockpage:
            address = b""
            if query.qtype == wire.TYPE_A:
                address = self._blockpage_v4
            elif query.qtype == wire.TYPE_AAAA:
                address = self._blockpage_v6
            if address:
                answer = wire.record(wire.QNAME_POINTER, query.qtype, BLOCKED_TTL, address)
                return wire.response(query, wire.RCODE_NOERROR, [answer], ede=ede)
            if query.qtype in (wire.TYPE_A, wire.TYPE_AAAA, wire.TYPE_HTTPS):
                return wire.response(query, wire.RCODE_NOERROR, authority=authority, ede=ede)
        return wire.response(query, wire.RCODE_NXDOMAIN, authority=authority, ede=ede)

    @staticmethod
    def _soa(query: wire.Query) -> bytes:
        # A SOA lets clients cache the negative answer for BLOCKED_TTL (RFC 2308).
        rdata = (
            wire.encode_name(b"blocked.preau.invalid")
            + wire.encode_name(b"hostmaster.preau.invalid")
            + struct.pack("!IIIII", 1, 3600, 600, 86400, BLOCKED_TTL)
        )
        return wire.record(wire.QNAME_POINTER, wire.TYPE_SOA, BLOCKED_TTL, rdata)

    @staticmethod
    def _fit(answer: bytes, query: wire.Query, tcp: bool) -> bytes:
        if tcp or len(answer) <= query.max_udp_size:
            return answer
        try:
            return wire.truncated_copy(answer)
        except wire.WireError:
            return wire.response(query, wire.RCODE_SERVFAIL)

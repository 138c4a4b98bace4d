"""The sans-I/O engine: policy order, cache, stale answers, rate limits (pure)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from dnslib import EDNS0, QTYPE, RR, SOA, A, DNSRecord

from filter import wire
from filter.cache import AnswerCache
from filter.clients import ClientMap, Identity
from filter.compiled_list import CompiledList, compile_list
from filter.config import FilterConfig
from filter.engine import FilterEngine, Forward, TargetedOverride
from filter.policy import GroupPolicy, Override, decide
from filter.ratelimit import RateLimiter
from tests.filter.conftest import default_test_groups


@pytest.fixture
def engine(tmp_path: Path) -> FilterEngine:
    config = FilterConfig.model_validate(
        {
            "groups": default_test_groups(),
            "networks": [{"cidr": "10.0.0.0/8", "group": "lycee"}],
            "static_clients": [{"address": "10.9.9.9", "group": "staff"}],
            "blockpage_ipv4": "192.0.2.1",
        }
    )
    eng = FilterEngine(config)
    path = tmp_path / "ut1.pfl"
    path.write_bytes(
        compile_list(
            [("adult", [b"porn-site.test"]), ("gambling", [b"casino.test"])], {"name": "ut1"}
        )
    )
    eng.set_lists([CompiledList("ut1", path)])
    eng.set_clients(
        ClientMap(
            [(ipaddress.ip_network("10.0.0.0/8"), "lycee")],
            {"10.9.9.9": "staff"},
            {"10.1.1.1": Identity("p1", "pupil", "6A", "6EME")},
        )
    )
    return eng


def query(name: str, qtype: str = "A", *, edns: bool = True) -> bytes:
    record = DNSRecord.question(name, qtype)
    if edns:
        record.add_ar(EDNS0(udp_len=1232))
    return bytes(record.pack())


def upstream_answer(packet: bytes, name: str, ttl: int = 300, count: int = 1) -> bytes:
    request = DNSRecord.parse(packet)
    reply = request.reply()
    for index in range(count):
        reply.add_answer(RR(name, rdata=A(f"192.0.2.{index + 10}"), ttl=ttl))
    return bytes(reply.pack())


def test_portal_identity_picks_the_level_group(engine: FilterEngine) -> None:
    client = engine.clients.resolve("10.1.1.1")
    assert (client.group, client.class_name) == ("college", "6A")
    assert engine.clients.resolve("10.2.2.2").group == "lycee"
    assert engine.clients.resolve("10.9.9.9").group == "staff"
    assert engine.clients.resolve("192.168.1.1").group == "unknown"


def test_blocked_answer_and_counters(engine: FilterEngine) -> None:
    answer = engine.handle(query("x.porn-site.test"), "10.1.1.1", 0.0)
    assert isinstance(answer, bytes)
    record = DNSRecord.parse(answer)
    assert record.header.rcode == wire.RCODE_NXDOMAIN
    assert engine.counters[("college", "adult", "b")] == 1
    assert engine.blocked_log[("college", "porn-site.test", "adult")] == 1
    # Staff are never logged.
    engine.handle(query("porn-site.test"), "10.9.9.9", 0.0)
    assert not any(key[0] == "staff" for key in engine.blocked_log)


def test_any_gets_rfc8482_answer(engine: FilterEngine) -> None:
    answer = engine.handle(query("www.example.test", "ANY"), "10.1.1.1", 0.0)
    assert isinstance(answer, bytes)
    record = DNSRecord.parse(answer)
    assert record.rr[0].rtype == QTYPE.HINFO
    assert len(answer) < 100


def test_cache_hit_decrements_ttl_and_caps_it_for_pupils(engine: FilterEngine) -> None:
    packet = query("www.example.test")
    forward = engine.handle(packet, "10.9.9.9", 100.0)
    assert isinstance(forward, Forward)
    engine.finish(forward, upstream_answer(packet, "www.example.test", ttl=300), 100.0)
    staff = engine.handle(query("www.example.test"), "10.9.9.9", 150.0)
    assert isinstance(staff, bytes)
    assert DNSRecord.parse(staff).rr[0].ttl == 250
    pupil = engine.handle(query("www.example.test"), "10.1.1.1", 150.0)
    assert isinstance(pupil, bytes)
    assert DNSRecord.parse(pupil).rr[0].ttl == 60  # college max_ttl


def test_stale_answer_served_only_when_upstreams_fail(engine: FilterEngine) -> None:
    packet = query("www.example.test")
    forward = engine.handle(packet, "10.9.9.9", 0.0)
    assert isinstance(forward, Forward)
    engine.finish(forward, upstream_answer(packet, "www.example.test", ttl=10), 0.0)
    later = engine.handle(query("www.example.test"), "10.9.9.9", 100.0)
    assert isinstance(later, Forward)  # expired: ask upstream again
    stale = DNSRecord.parse(engine.finish(later, None, 100.0))
    assert stale.rr[0].ttl == 30
    never = engine.handle(query("other.test"), "10.9.9.9", 100.0)
    assert isinstance(never, Forward)
    assert DNSRecord.parse(engine.finish(never, None, 100.0)).header.rcode == wire.RCODE_SERVFAIL


def test_negative_answers_cached_for_soa_minimum() -> None:
    cache = AnswerCache(10, 0)
    request = DNSRecord.question("nx.test")
    reply = request.reply()
    reply.header.rcode = wire.RCODE_NXDOMAIN
    reply.add_auth(RR("test", QTYPE.SOA, rdata=SOA("ns.test", "h.test", (1, 2, 3, 4, 42)), ttl=300))
    key = (b"nx.test", 1, 2, False)
    cache.store(key, bytes(reply.pack()), 0.0)
    parsed = wire.parse_query(bytes(request.pack()))
    assert cache.lookup(key, parsed, 41.0) is not None
    assert cache.lookup(key, parsed, 43.0) is None


def test_client_without_edns_gets_no_opt_and_tc_when_too_big(engine: FilterEngine) -> None:
    packet = query("big.test", edns=False)
    forward = engine.handle(packet, "10.9.9.9", 0.0)
    assert isinstance(forward, Forward)
    upstream = DNSRecord.parse(upstream_answer(query("big.test"), "big.test", count=40))
    upstream.header.id = DNSRecord.parse(packet).header.id
    answer = DNSRecord.parse(engine.finish(forward, bytes(upstream.pack()), 0.0))
    assert answer.header.tc
    assert not answer.ar


def test_blockpage_answer_for_groups_that_want_it(tmp_path: Path) -> None:
    groups = default_test_groups()
    for group in groups:
        if group["name"] == "lycee":
            group["answer"] = "blockpage"
    eng = FilterEngine(
        FilterConfig.model_validate(
            {
                "groups": groups,
                "networks": [{"cidr": "10.0.0.0/8", "group": "lycee"}],
                "blockpage_ipv4": "192.0.2.1",
            }
        )
    )
    eng.set_clients(ClientMap([(ipaddress.ip_network("10.0.0.0/8"), "lycee")], {}, {}))
    eng.set_overrides(
        [
            TargetedOverride(
                "group", "lycee", Override(1, "block_domains", 1e12, frozenset({b"x.test"}))
            )
        ]
    )
    answer = eng.handle(query("www.x.test"), "10.2.2.2", 0.0)
    assert isinstance(answer, bytes)
    record = DNSRecord.parse(answer)
    assert str(record.rr[0].rdata) == "192.0.2.1"


def test_override_order_block_all_beats_allowlists() -> None:
    group = GroupPolicy("g", frozenset({"adult"}), allow=frozenset({b"ok.test"}))
    allowlist = Override(2, "allowlist_only", 1e12, frozenset({b"pix.fr"}))
    block_all = Override(1, "block_all", 1e12)
    # The policy orders the overrides itself: either order gives the same answer.
    for overrides in ([allowlist, block_all], [block_all, allowlist]):
        decision = decide(b"app.pix.fr", 1, group, overrides, lambda name: ())
        assert decision.rule == "override:1:block_all"
    assert decide(b"app.pix.fr", 1, group, [allowlist], lambda name: ()).action == "allow"
    domains = Override(4, "block_domains", 1e12, frozenset({b"pix.fr"}))
    for overrides in ([domains, allowlist], [allowlist, domains]):
        decision = decide(b"app.pix.fr", 1, group, overrides, lambda name: ())
        assert decision.rule == "override:2:allowlist_only"
    tighten = [Override(3, "tighten", 1e12, categories=frozenset({"games"}))]
    games = lambda name: [("ut1", name, ("games",))]  # noqa: E731
    assert decide(b"g.test", 1, group, tighten, games).category == "games"
    assert decide(b"g.test", 1, group, [], games).action == "allow"


def test_expired_override_no_longer_applies(engine: FilterEngine) -> None:
    engine.set_overrides(
        [TargetedOverride("class", "6A", Override(1, "block_all", expires_at=10.0))]
    )
    blocked = DNSRecord.parse(engine.handle(query("www.example.test"), "10.1.1.1", 5.0))  # type: ignore[arg-type]
    assert blocked.header.rcode == wire.RCODE_NXDOMAIN
    assert isinstance(engine.handle(query("www.example.test"), "10.1.1.1", 11.0), Forward)


def test_rate_limiter_slips_every_second_limited_query() -> None:
    limiter = RateLimiter(qps=10, burst=10, slip=2)
    verdicts = [limiter.check("a", 0.0) for _ in range(20)]
    assert verdicts[:10] == ["pass"] * 10
    assert verdicts[10:] == ["drop", "slip"] * 5
    assert limiter.check("b", 0.0) == "pass"
    assert limiter.check("a", 1.0) == "pass"  # refilled


def test_refused_outside_networks_and_formerr_on_garbage(engine: FilterEngine) -> None:
    refused = engine.handle(query("a.test"), "203.0.113.9", 0.0)
    assert isinstance(refused, bytes)
    assert DNSRecord.parse(refused).header.rcode == wire.RCODE_REFUSED
    garbage = engine.handle(b"\x12\x34\x01\x00\x00\x01" + b"\xff" * 10, "10.1.1.1", 0.0)
    assert isinstance(garbage, bytes)
    assert garbage[3] & 0xF == wire.RCODE_FORMERR
    assert engine.handle(b"\x01", "10.1.1.1", 0.0) is None


def test_update_cdns_are_steered_to_the_cache_without_ipv6_bypass(tmp_path: Path) -> None:
    """Issue #6 scope 1 (CARMO #6.2): the cache's names answer with the appliance."""
    from cache.steering import steered_names
    from tests.conftest import make_config

    config = make_config(
        tmp_path,
        filter={
            "groups": default_test_groups(),
            "cache_steering": {
                "enabled": True,
                "ipv4": "10.0.0.1",
                "names": ["cdn.ecole.test"],
                "search_domains": ["college.test"],
                "apple_public_ranges": ["203.0.113.1-203.0.113.30", "198.51.100.7"],
            },
        },
    )
    eng = FilterEngine(config.section(FilterConfig))
    steering = config.section(FilterConfig).cache_steering
    eng.set_steering(
        steered_names(config),
        steering.ipv4,
        steering.search_domains,
        steering.apple_public_ranges,
    )

    def ask(name: str, qtype: str = "A") -> DNSRecord | Forward:
        answer = eng.handle(query(name, qtype), "10.1.1.1", 0.0)
        assert answer is not None
        return answer if isinstance(answer, Forward) else DNSRecord.parse(answer)

    for name in (
        "download.windowsupdate.com",
        "au.download.windowsupdate.com",
        "cdn.ecole.test",
        "wpad.college.test",  # the PAC file, for browsers set to detect proxy settings
    ):
        record = ask(name)
        assert isinstance(record, DNSRecord)
        assert [str(rr.rdata) for rr in record.rr] == ["10.0.0.1"]
        for qtype in ("AAAA", "HTTPS"):
            empty = ask(name, qtype)
            assert isinstance(empty, DNSRecord)
            assert (empty.header.rcode, empty.rr) == (wire.RCODE_NOERROR, [])
    # Not steered: other names, *.gvt1.com (Play downloads broke), other record types.
    assert isinstance(ask("r1.gvt1.com"), Forward)
    assert isinstance(ask("www.example.test"), Forward)
    assert isinstance(ask("download.windowsupdate.com", "MX"), Forward)
    # auto-apt-proxy finds the cache through SRV, and its target resolves to the cache.
    srv = ask("_apt_proxy._tcp.college.test", "SRV")
    assert isinstance(srv, DNSRecord)
    assert srv.rr[0].rtype == QTYPE.SRV
    assert (srv.rr[0].rdata.port, str(srv.rr[0].rdata.target)) == (80, "apt-proxy.college.test.")
    target = ask("apt-proxy.college.test")
    assert isinstance(target, DNSRecord)
    assert [str(rr.rdata) for rr in target.rr] == ["10.0.0.1"]
    assert isinstance(ask("_apt_proxy._tcp.other.test", "SRV"), Forward)
    # Apple content caching: the public ranges in the record Apple documents, nothing proxied.
    txt = ask("_aaplcache._tcp.college.test", "TXT")
    assert isinstance(txt, DNSRecord)
    assert txt.rr[0].rdata.data == [b"prs=203.0.113.1-203.0.113.30,198.51.100.7"]
    assert isinstance(ask("swcdn.apple.com"), Forward)


def test_steering_needs_an_address() -> None:
    with pytest.raises(ValueError, match="ipv4 : obligatoire"):
        FilterConfig.model_validate(
            {"groups": default_test_groups(), "cache_steering": {"enabled": True}}
        )


def test_apple_content_caching_is_noticed_never_steered(engine: FilterEngine) -> None:
    """Issue #6 scope 7: report a Mac content cache (or its absence); Apple is never proxied."""
    for name, now in (("lcdn-locator.apple.com", 5.0), ("lcdn-locator.apple.com", 6.0)):
        assert isinstance(engine.handle(query(name), "10.1.1.1", now), Forward)
    assert engine.apple_cache == {"lookup": 2}
    assert engine.apple_cache_last == {"lookup": 6.0}
    assert isinstance(engine.handle(query("lcdn-registration.apple.com"), "10.9.9.9", 7.0), Forward)
    assert engine.apple_cache["registration"] == 1


def test_the_portal_host_name_is_answered_by_the_box_for_everyone(engine: FilterEngine) -> None:
    """Issue #11: every URL a phone gets before login names the portal; the box answers it."""
    engine.set_local_names({"portail.college.test": ("10.77.0.1", "fd77::1")})
    for address in ("127.0.0.10", "127.0.0.99"):  # a pupil, an unknown device
        answer = engine.handle(query("Portail.College.test", "A"), address, 0.0)
        assert isinstance(answer, bytes)
        record = DNSRecord.parse(answer)
        assert [str(rr.rdata) for rr in record.rr] == ["10.77.0.1"]
        six = engine.handle(query("portail.college.test", "AAAA"), address, 0.0)
        assert isinstance(six, bytes)
        assert [str(rr.rdata) for rr in DNSRecord.parse(six).rr] == ["fd77::1"]
    other = engine.handle(query("portail.college.test", "MX"), "127.0.0.10", 0.0)
    assert isinstance(other, bytes)
    assert DNSRecord.parse(other).rr == []


def test_a_control_on_a_group_of_the_class_applies_to_its_pupils_only(
    engine: FilterEngine,
) -> None:
    """Issue #13 scope 6: p1 and p2 are both in 6A; the group holds p1 alone."""
    engine.set_clients(
        ClientMap(
            [(ipaddress.ip_network("10.0.0.0/8"), "lycee")],
            {},
            {
                "10.1.1.1": Identity("p1", "pupil", "6A", "6EME"),
                "10.1.1.2": Identity("p2", "pupil", "6A", "6EME"),
            },
        )
    )
    group_cut = Override(1, "block_all", expires_at=10.0)
    engine.set_overrides([TargetedOverride("subgroup", "7", group_cut, people=frozenset({"p1"}))])
    cut = DNSRecord.parse(engine.handle(query("www.example.test"), "10.1.1.1", 5.0))  # type: ignore[arg-type]
    assert cut.header.rcode == wire.RCODE_NXDOMAIN
    assert isinstance(engine.handle(query("www.example.test"), "10.1.1.2", 5.0), Forward)
    # A device nobody is logged in on is never in a group.
    assert isinstance(engine.handle(query("www.example.test"), "10.3.3.3", 5.0), Forward)

"""Wire format by hand, checked against dnslib."""

from __future__ import annotations

import pytest
from dnslib import EDNS0, QTYPE, RR, A, DNSRecord

from filter import wire


def test_parse_matches_dnslib() -> None:
    query = DNSRecord.question("WwW.Example.TEST", "AAAA")
    query.add_ar(EDNS0(udp_len=4096, flags="do"))
    parsed = wire.parse_query(query.pack())
    assert parsed.id == query.header.id
    assert parsed.qname == b"www.example.test"
    assert parsed.qtype == QTYPE.AAAA
    assert parsed.edns_size == 4096
    assert parsed.dnssec_ok
    assert parsed.max_udp_size == wire.EDNS_UDP_SIZE


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\x00" * 11,
        DNSRecord.question("a.test").reply().pack(),  # a response
        b"\x12\x34\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01",  # 2 questions
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",  # pointer loop
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3fab",  # label past the end
        DNSRecord.question("a.test").pack() + b"junk",
    ],
)
def test_malformed_queries_raise_wire_error_only(packet: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.parse_query(packet)


def test_response_with_ede_parses_in_dnslib() -> None:
    query = DNSRecord.question("blocked.test")
    query.add_ar(EDNS0(udp_len=1232))
    parsed = wire.parse_query(query.pack())
    answer = DNSRecord.parse(
        wire.response(parsed, wire.RCODE_NXDOMAIN, ede=(wire.EDE_BLOCKED, "adult"))
    )
    assert answer.header.rcode == wire.RCODE_NXDOMAIN
    assert answer.header.id == query.header.id
    opt = answer.ar[0]
    assert opt.rtype == QTYPE.OPT
    assert opt.rdata[0].code == wire.EDE_OPTION
    assert opt.rdata[0].data[2:] == b"adult"


def test_walk_response_and_truncate() -> None:
    reply = DNSRecord.question("x.test").reply()
    for index in range(3):
        reply.add_answer(RR("x.test", rdata=A(f"192.0.2.{index}"), ttl=100 + index))
    packet = reply.pack()
    ident, _, qname, qtype, _, records = wire.walk_response(packet)
    assert (ident, qname, qtype) == (reply.header.id, b"x.test", 1)
    assert [r.ttl for r in records] == [100, 101, 102]
    cut = DNSRecord.parse(wire.truncated_copy(packet))
    assert cut.header.tc
    assert not cut.rr


def test_error_response_never_answers_a_response() -> None:
    reply = DNSRecord.question("x.test").reply().pack()
    assert wire.error_response(reply, wire.RCODE_FORMERR) is None

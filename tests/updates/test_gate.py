"""The health gate: every probe must answer once within its time (issue #17, scope 3)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appliance.features import GateFailure, GateProbe
from captive_portal.health_gate import udp_listening
from filter.health_gate import ask_filter
from tests.conftest import make_config
from updates.gate import (
    CRASH_LOOP,
    CRASH_LOOP_FAILURE,
    RESTARTS_TO_GIVE_UP,
    crash_looping,
    parse_restarts,
    probes_for,
    run_gate,
    web_probe,
)


class FakeClock:
    """A clock the pauses move forward: the gate's five minutes pass in no time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def _probe(name: str, answers: list[bool]) -> GateProbe:
    async def check() -> None:
        if not answers.pop(0):
            raise GateFailure(f"{name} ne répond pas")

    return GateProbe(name, check)


async def test_a_slot_whose_probes_answer_passes_at_once() -> None:
    clock = FakeClock()
    failures = await run_gate([_probe("web", [True]), _probe("dns", [True])], clock, clock.pause)
    assert failures == {}
    assert clock.pauses == []


async def test_a_probe_may_come_up_late_within_the_time() -> None:
    clock = FakeClock()
    late = _probe("dns", [False, False, True])
    failures = await run_gate([_probe("web", [True]), late], clock, clock.pause, seconds=300)
    assert failures == {}
    assert clock.now - 1000.0 == 10.0  # two pauses of 5 s; the web was not asked again


async def test_a_probe_that_never_answers_fails_the_gate_when_time_is_up() -> None:
    clock = FakeClock()
    failures = await run_gate(
        [_probe("web", [False] * 100), _probe("dns", [True])], clock, clock.pause, seconds=60
    )
    assert failures == {"web": "web ne répond pas"}
    assert clock.now == 1060.0


async def test_the_web_probe_wants_a_200_from_healthz(unused_tcp_port: int) -> None:
    answers = [b"HTTP/1.1 503 Service Unavailable\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert (await reader.readline()).startswith(b"GET /healthz ")
        writer.write(answers.pop(0))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", unused_tcp_port)
    config = make_config(Path("/nonexistent"), web={"host": "127.0.0.1", "port": unused_tcp_port})
    probe = web_probe(config)
    async with server:
        with pytest.raises(GateFailure, match="200"):
            await probe.check()
        await probe.check()
    with pytest.raises(GateFailure, match="ne répond pas"):
        await probe.check()  # nobody listens any more


async def test_the_dns_probe_wants_an_answer_not_servfail_nor_silence(
    unused_udp_port: int,
) -> None:
    import dnslib

    rcodes = [3, 2]

    class Resolver(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
            query = dnslib.DNSRecord.parse(data)
            assert str(query.q.qname) == "preau-gate.invalid."
            reply = query.reply()
            reply.header.rcode = rcodes.pop(0)
            self.transport.sendto(reply.pack(), addr)  # type: ignore[attr-defined]

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        Resolver, local_addr=("127.0.0.1", unused_udp_port)
    )
    try:
        assert await ask_filter("127.0.0.1", unused_udp_port) == 3  # NXDOMAIN: answered
        assert await ask_filter("127.0.0.1", unused_udp_port) == 2  # SERVFAIL
    finally:
        transport.close()
    with pytest.raises(GateFailure):
        await ask_filter("127.0.0.1", unused_udp_port, wait=0.5)


def test_every_running_feature_brings_its_probes(tmp_path: Path) -> None:
    names = [probe.name for probe in probes_for(make_config(tmp_path))]
    assert names[0] == "L'interface web répond"
    assert "Le filtrage DNS répond" in names
    assert not any("portail" in name for name in names)  # the portal is off by default
    portal = make_config(tmp_path, portal={"enabled": True})
    names = [probe.name for probe in probes_for(portal)]
    assert "Les ensembles du portail sont chargés" in names
    assert "Le DHCP des appareils personnels écoute" in names


def test_dhcp_listening_is_read_from_the_kernels_socket_table(tmp_path: Path) -> None:
    table = tmp_path / "udp"
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
    table.write_text(header + "   1: 00000000:0035 00000000:0000 07 00000000:00000000 00:0 0 0\n")
    assert not udp_listening(67, (table, tmp_path / "missing"))
    table.write_text(header + "   2: 00000000:0043 00000000:0000 07 00000000:00000000 00:0 0 0\n")
    assert udp_listening(67, (table,))


SHOWN = """Id=preau-web.service
NRestarts=4

Id=preau-filter.service
NRestarts=0

Id=preau-portal.service
NRestarts=
"""


def test_systemds_restart_counts_are_read_per_unit() -> None:
    assert parse_restarts(SHOWN) == {"preau-web.service": 4, "preau-filter.service": 0}
    assert crash_looping({"preau-filter.service": 0, "preau-web.service": 4}) == "preau-web.service"
    assert crash_looping({"preau-web.service": RESTARTS_TO_GIVE_UP - 1}) is None


async def test_a_service_crashing_at_every_start_ends_the_gate_at_once() -> None:
    clock = FakeClock()
    counts = iter([0, 1, 2, 3, 4])

    async def restarts() -> dict[str, int]:
        return {"preau-filter.service": 0, "preau-web.service": next(counts)}

    failures = await run_gate(
        [_probe("web", [False] * 100), _probe("dns", [True])],
        clock,
        clock.pause,
        seconds=300,
        restarts=restarts,
    )
    # The web's third restart ends it: 15 s, not five minutes.
    assert failures == {"web": "web ne répond pas", CRASH_LOOP: CRASH_LOOP_FAILURE}
    assert clock.now - 1000.0 == 15.0


async def test_restarts_do_not_end_a_gate_whose_probes_all_passed() -> None:
    clock = FakeClock()

    async def restarts() -> dict[str, int]:
        return {"preau-cache.service": 9}

    assert await run_gate([_probe("web", [True])], clock, clock.pause, restarts=restarts) == {}

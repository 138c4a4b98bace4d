"""The DNS filter's part of an update's health gate: a question answered through it.

A new system slot is kept only if the school's DNS works on it. The probe
asks the filter, on the address it listens on, for a name under
``.invalid``: the box's unbound answers that from its own defaults
(RFC 6761), with no Internet, so an answer (NOERROR or NXDOMAIN) shows the
filter and its resolver both serving. SERVFAIL, silence or a malformed reply
fail the gate.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Final

from appliance.features import GateFailure, GateProbe
from appliance.i18n import N_
from filter.config import FilterConfig
from filter.upstream import parse_endpoint

if TYPE_CHECKING:
    from appliance.config import PreauConfig

GATE_NAME: Final = "preau-gate.invalid."
ANSWER_SECONDS: Final = 3.0
# NOERROR and NXDOMAIN: the resolver behind the filter answered.
ANSWERED: Final = frozenset({0, 3})


class _OneAnswer(asyncio.DatagramProtocol):
    """Wait for the one reply to a query."""

    def __init__(self) -> None:
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        """Keep the first datagram."""
        if not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        """Fail on an ICMP error (nobody listens)."""
        if not self.reply.done():
            self.reply.set_exception(exc)


async def ask_filter(host: str, port: int, wait: float = ANSWER_SECONDS) -> int:
    """Ask HOST:PORT for the gate's name and return the reply's RCODE."""
    import dnslib  # the gate runs once a boot: never in the filter's hot path

    query = dnslib.DNSRecord.question(GATE_NAME, "A")
    query.header.id = secrets.randbelow(65536)
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_OneAnswer, remote_addr=(host, port))
    try:
        transport.sendto(query.pack())
        try:
            data = await asyncio.wait_for(protocol.reply, wait)
        except (TimeoutError, OSError) as err:
            raise GateFailure(N_("le filtrage DNS ne répond pas")) from err
    finally:
        transport.close()
    try:
        reply = dnslib.DNSRecord.parse(data)
    except dnslib.DNSError as err:
        raise GateFailure(N_("le filtrage DNS répond une trame illisible")) from err
    if reply.header.id != query.header.id:
        raise GateFailure(N_("le filtrage DNS répond une trame illisible"))
    return int(reply.header.rcode)


def gate_probes(config: PreauConfig) -> list[GateProbe]:
    """Return the filter's probe when the box runs its filter."""
    section = config.section(FilterConfig)
    if not section.enabled:
        return []
    host, port = parse_endpoint(section.listen[0])
    if host in ("0.0.0.0", ""):  # listening everywhere: ask on loopback
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"

    async def check() -> None:
        rcode = await ask_filter(host, port)
        if rcode not in ANSWERED:
            raise GateFailure(N_("le filtrage DNS répond une erreur (le résolveur ne sert pas)"))

    return [GateProbe(N_("Le filtrage DNS répond"), check)]

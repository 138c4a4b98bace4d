"""The DNS filter's part of an update's health gate: a question answered through it.

A new system slot is kept only if the school's DNS works on it. The probe
asks the filter, on the address it listens on, for a name under
``.invalid``: the box's unbound answers that from its own defaults
(RFC 6761), with no Internet, so an answer (NOERROR or NXDOMAIN) shows the
filter and its resolver both serving. SERVFAIL, silence or a malformed reply
fail the gate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from appliance.features import GateFailure, GateProbe
from appliance.i18n import N_
from filter import wire
from filter.config import FilterConfig
from filter.upstream import Upstreams, parse_endpoint

if TYPE_CHECKING:
    from appliance.config import PreauConfig

GATE_NAME: Final = b"preau-gate.invalid"
ANSWER_SECONDS: Final = 3.0
# NOERROR and NXDOMAIN: the resolver behind the filter answered.
ANSWERED: Final = frozenset({0, 3})


async def ask_filter(host: str, port: int, wait: float = ANSWER_SECONDS) -> int:
    """Ask HOST:PORT for the gate's name and return the reply's RCODE.

    The filter's own upstream client asks: a random ID, a reply accepted only
    with that ID and the same question, TCP when the reply is truncated.
    """
    asker = Upstreams([f"{host}:{port}"], wait)
    try:
        answer = await asker.resolve(GATE_NAME, 1, 1, False)  # A, IN
    finally:
        asker.close()
    if answer is None:
        raise GateFailure(N_("le filtrage DNS ne répond pas"))
    return wire.rcode_of(answer)


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

"""Fuzz target (atheris where it exists, hypothesis everywhere) for the filter's packet path.

Run by tests/fuzz/test_fuzz.py: ``python fuzz_dns.py -runs=100000 CORPUS``.
Every input goes through the query parser, the response walker and the whole
engine; only :class:`filter.wire.WireError` may come out of the parsers and
nothing at all out of the engine.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fuzz.provider import instrumented, run_target

with instrumented():
    from filter import wire
    from filter.config import FilterConfig
    from filter.engine import FilterEngine, Forward

ENGINE = FilterEngine(FilterConfig())


def one_input(data: bytes) -> None:
    """Feed one input to every parser and to the engine."""
    try:
        query = wire.parse_query(data)
    except wire.WireError:
        pass
    else:
        wire.response(query, wire.RCODE_NXDOMAIN, ede=(wire.EDE_BLOCKED, "x"))
    try:
        _, _, _, _, _, records = wire.walk_response(data)
        wire.negative_ttl(data, records)
        wire.without_opt(data, records)
    except wire.WireError:
        pass
    result = ENGINE.handle(data, "127.0.0.1", 0.0)
    if isinstance(result, Forward):
        # Pretend the upstream echoed the input back as its answer.
        ENGINE.finish(result, data, 0.0)


if __name__ == "__main__":
    run_target(sys.argv, one_input)

"""Fuzz target (atheris where it exists, hypothesis everywhere): what the portal reads.

Run by tests/fuzz/test_fuzz.py: ``python fuzz_portal.py -runs=100000 CORPUS``.
DNS answers for the walled garden may raise only :class:`GardenError`; the
DHCP lease spool, form tokens, language headers and probe requests nothing;
router advertisements only ``ValueError``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fuzz.provider import instrumented, provider, run_target

with instrumented():
    from appliance.i18n import language_of
    from captive_portal import garden, ra
    from captive_portal.dhcp import parse_lease_events
    from captive_portal.guard import FormTokens, SourceLimits
    from captive_portal.probes import probe_answer

TOKENS = FormTokens(capacity=1000)
LIMITS = SourceLimits(capacity=1000)


def one_input(data: bytes) -> None:
    """Feed one input to every parser of outside data."""
    source = provider(data)
    query_id = source.ConsumeIntInRange(0, 65535)
    text = source.ConsumeUnicodeNoSurrogates(200)
    rest = source.ConsumeBytes(source.remaining_bytes())
    try:
        garden.parse_answer("ent.test", query_id, rest)
    except garden.GardenError:
        pass
    try:
        ra.parse_options(rest)
    except ValueError:
        pass
    parse_lease_events(rest.decode("utf-8", "replace"))
    address = text[:15]
    TOKENS.redeem(text, address, 0.0)
    TOKENS.redeem(TOKENS.issue(address, 0.0), address, 1.0)
    LIMITS.allow_request(address, 0.0)
    LIMITS.allow_login(address, 0.0)
    language_of(text[:5] or None, text)
    probe_answer(text, text[::-1])


if __name__ == "__main__":
    run_target(sys.argv, one_input)

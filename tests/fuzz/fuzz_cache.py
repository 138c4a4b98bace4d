"""Fuzz target (atheris where it exists, hypothesis everywhere): what devices and origins send.

Run by tests/fuzz/test_fuzz.py. Range and Content-Range headers, Host headers,
request paths through the shipped rules, rules files, TLS ClientHellos (the
pass-through's server name) and Packages indexes:
only the modules' own errors may come out.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fuzz.provider import instrumented, provider, run_target

with instrumented():
    from cache import publishers, sni
    from cache.chunks import ChunkMap, RangeNotSatisfiable, parse_content_range, parse_range
    from cache.rules import RulesError, load_rules, normalise_host, parse_rules

RULES = load_rules()
SCRATCH = Path(tempfile.mkdtemp(prefix="preau-fuzz-cache-"))


def one_input(data: bytes) -> None:
    """Feed one input to every parser."""
    source = provider(data)
    length = source.ConsumeIntInRange(0, 1 << 40)
    header = source.ConsumeUnicodeNoSurrogates(60)
    try:
        wanted = parse_range(header, length)
    except RangeNotSatisfiable:
        wanted = None
    if wanted is not None:
        assert 0 <= wanted[0] < wanted[1] <= length
    parsed = parse_content_range(source.ConsumeUnicodeNoSurrogates(60))
    if parsed is not None:
        assert 0 <= parsed[0] < parsed[1] <= parsed[2]
    host = normalise_host(source.ConsumeUnicodeNoSurrogates(80))
    path = source.ConsumeUnicodeNoSurrogates(200)
    rule = RULES.match(host, path, source.ConsumeUnicodeNoSurrogates(40))
    if rule is not None:
        rule.key(host, path, source.ConsumeUnicodeNoSurrogates(60))
    chunks = ChunkMap(source.ConsumeIntInRange(0, 1 << 24), source.ConsumeIntInRange(1, 4096))
    if chunks.count:
        chunks.mark(source.ConsumeIntInRange(0, chunks.count - 1))
        chunks.present_from(source.ConsumeIntInRange(0, chunks.length))
    try:
        parse_rules(source.ConsumeUnicodeNoSurrogates(300))
    except RulesError:
        pass
    try:
        sni.server_name(source.ConsumeBytes(600))
    except (sni.NeedMore, sni.NotClientHello):
        pass
    index = SCRATCH / "Packages"
    index.write_bytes(source.ConsumeBytes(400))
    try:
        list(publishers.packages_hashes(index))
    except (OSError, EOFError, ValueError):
        pass  # a damaged gzip/xz stream: the caller logs it and keeps nothing


if __name__ == "__main__":
    run_target(sys.argv, one_input)

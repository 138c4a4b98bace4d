"""libFuzzer target (atheris) for what devices and origins send the cache.

Run by tests/fuzz/test_fuzz.py. Range and Content-Range headers, Host headers,
request paths through the shipped rules, rules files, TLS ClientHellos (the
pass-through's server name) and Packages indexes:
only the modules' own errors may come out.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from cache import publishers, sni
    from cache.chunks import ChunkMap, RangeNotSatisfiable, parse_content_range, parse_range
    from cache.rules import RulesError, load_rules, normalise_host, parse_rules

RULES = load_rules()
SCRATCH = Path(tempfile.mkdtemp(prefix="preau-fuzz-cache-"))


def one_input(data: bytes) -> None:
    """Feed one input to every parser."""
    provider = atheris.FuzzedDataProvider(data)
    length = provider.ConsumeIntInRange(0, 1 << 40)
    header = provider.ConsumeUnicodeNoSurrogates(60)
    try:
        wanted = parse_range(header, length)
    except RangeNotSatisfiable:
        wanted = None
    if wanted is not None:
        assert 0 <= wanted[0] < wanted[1] <= length
    parsed = parse_content_range(provider.ConsumeUnicodeNoSurrogates(60))
    if parsed is not None:
        assert 0 <= parsed[0] < parsed[1] <= parsed[2]
    host = normalise_host(provider.ConsumeUnicodeNoSurrogates(80))
    path = provider.ConsumeUnicodeNoSurrogates(200)
    rule = RULES.match(host, path, provider.ConsumeUnicodeNoSurrogates(40))
    if rule is not None:
        rule.key(host, path, provider.ConsumeUnicodeNoSurrogates(60))
    chunks = ChunkMap(provider.ConsumeIntInRange(0, 1 << 24), provider.ConsumeIntInRange(1, 4096))
    if chunks.count:
        chunks.mark(provider.ConsumeIntInRange(0, chunks.count - 1))
        chunks.present_from(provider.ConsumeIntInRange(0, chunks.length))
    try:
        parse_rules(provider.ConsumeUnicodeNoSurrogates(300))
    except RulesError:
        pass
    try:
        sni.server_name(provider.ConsumeBytes(600))
    except (sni.NeedMore, sni.NotClientHello):
        pass
    index = SCRATCH / "Packages"
    index.write_bytes(provider.ConsumeBytes(400))
    try:
        list(publishers.packages_hashes(index))
    except (OSError, EOFError, ValueError):
        pass  # a damaged gzip/xz stream: the caller logs it and keeps nothing


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()

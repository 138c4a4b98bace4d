"""Fuzz what comes from outside, with libFuzzer where it runs and hypothesis everywhere.

atheris (libFuzzer, coverage-guided, 100,000 inputs a target) has wheels for
x86_64 only; the Pi is arm64. Every target therefore also runs under
hypothesis, in process, from the same seeds: on x86_64 both engines run, on
arm64 hypothesis alone, and nothing is skipped (issues #3, #6, #12).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from dnslib import EDNS0, RR, A, DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filter.compiled_list import compile_list
from tests.fuzz.provider import atheris, load_target

HERE = Path(__file__).parent
ENGINES = ["hypothesis"] + (["atheris"] if atheris is not None else [])
HYPOTHESIS_EXAMPLES = 4000


def dns_seeds(folder: Path) -> None:
    """Write a few valid queries and answers as the starting corpus."""
    samples = [DNSRecord.question("www.example.test"), DNSRecord.question("porn.test", "AAAA")]
    with_edns = DNSRecord.question("x.test", "TXT")
    with_edns.add_ar(EDNS0(udp_len=1232, flags="do"))
    samples.append(with_edns)
    reply = DNSRecord.question("a.test").reply()
    reply.add_answer(RR("a.test", rdata=A("192.0.2.1"), ttl=60))
    samples.append(reply)
    for index, sample in enumerate(samples):
        (folder / f"seed{index}").write_bytes(bytes(sample.pack()))


def portal_seeds(folder: Path) -> None:
    """Write a DNS answer and a lease line, each after the bytes the target consumes first."""
    answer = DNSRecord.question("ent.test").reply()
    answer.add_answer(RR("ent.test", rdata=A("192.0.2.1"), ttl=60))
    (folder / "dns").write_bytes(b"\x00\x07" + b"fr-FR" + bytes(answer.pack()))
    (folder / "lease").write_bytes(b"\x00\x01en\naa:bb:cc:dd:ee:01\t10.0.0.2\th\tv\t1,3,6\n")


def cache_seeds(folder: Path) -> None:
    """Write a Range and a Content-Range header after the length the target reads."""
    (folder / "range").write_bytes(b"\x00" * 8 + b"bytes=0-1023\x00bytes 0-1023/4096\x00")


def list_seeds(folder: Path) -> None:
    """Write a real compiled list, after the names the target looks up."""
    artifact = compile_list(
        [("adult", [b"porn.test", b"x.example"]), ("games", [b"jeu.test"])], {"source": "fuzz"}
    )
    prefix = b"\x09" + b"porn.test" + b"\x08" + b"jeu.test" + b"\x00"
    (folder / "list").write_bytes(prefix + artifact)


TARGETS: dict[str, tuple[Callable[[Path], None], int]] = {
    "fuzz_dns.py": (dns_seeds, 600),
    "fuzz_portal.py": (portal_seeds, 600),
    "fuzz_cache.py": (cache_seeds, 1200),
    "fuzz_lists.py": (list_seeds, 4096),
}


def with_atheris(script: str, corpus: Path, max_len: int) -> None:
    """Run a target under libFuzzer for 100,000 inputs from ``corpus``; fail on any crash."""
    result = subprocess.run(
        [sys.executable, str(HERE / script), "-runs=100000", f"-max_len={max_len}",
         "-seed=20261122", str(corpus)],
        capture_output=True, text=True, check=False, timeout=580, cwd=HERE.parent.parent,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Done 100000 runs" in output


def with_hypothesis(script: str, corpus: Path, max_len: int) -> None:
    """Run a target in process on the seeds, then on inputs hypothesis derives from them."""
    target = load_target(str(HERE / script))
    seeds = sorted(path.read_bytes()[:max_len] for path in corpus.iterdir())
    for seed in seeds:
        target.one_input(seed)
    # Seeds with bytes overwritten, cut or extended, and raw bytes.
    edited = st.tuples(
        st.sampled_from(seeds), st.integers(0, max_len), st.binary(max_size=16), st.booleans()
    ).map(lambda t: (t[0][: t[1]] + t[2] + (b"" if t[3] else t[0][t[1] + len(t[2]) :]))[:max_len])
    inputs = st.one_of(edited, st.binary(max_size=max_len))

    @settings(
        max_examples=HYPOTHESIS_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs)
    def run(data: bytes) -> None:
        target.one_input(data)

    run()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("script", sorted(TARGETS))
def test_outside_input_never_crashes_a_parser(tmp_path: Path, script: str, engine: str) -> None:
    """Packets, leases, headers, rules, indexes and compiled lists: only the declared errors."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seed, max_len = TARGETS[script]
    seed(corpus)
    if engine == "atheris":
        with_atheris(script, corpus, max_len)
    else:
        with_hypothesis(script, corpus, max_len)


def test_the_stand_in_provider_reads_like_atheris() -> None:
    """Both engines feed the targets through the same method names and bounds."""
    from tests.fuzz.provider import BytesProvider

    source = BytesProvider(b"\xffabc\xe9")
    assert 0 <= source.ConsumeIntInRange(0, 10) <= 10
    assert source.ConsumeIntInRange(5, 5) == 5
    assert source.ConsumeUnicodeNoSurrogates(3) == "abc"
    assert source.remaining_bytes() == 1
    assert source.ConsumeBytes(10) == b"\xe9"
    assert source.ConsumeBytes(1) == b""

"""Fuzz the DNS packet path for at least 100,000 inputs (issue #3 robustness)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dnslib import EDNS0, RR, A, DNSRecord

HERE = Path(__file__).parent


def seeds(folder: Path) -> None:
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


def fuzz(script: str, corpus: Path, max_len: int = 600) -> None:
    """Run an atheris target for 100,000 inputs from ``corpus``; fail on any crash."""
    result = subprocess.run(
        [
            sys.executable,
            str(HERE / script),
            "-runs=100000",
            f"-max_len={max_len}",
            "-seed=20261122",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=580,
        cwd=HERE.parent.parent,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Done 100000 runs" in output


@pytest.mark.timeout(600)
def test_packet_path_survives_100k_fuzzed_inputs(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seeds(corpus)
    fuzz("fuzz_dns.py", corpus)


@pytest.mark.timeout(600)
def test_portal_parsers_survive_100k_fuzzed_inputs(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    answer = DNSRecord.question("ent.test").reply()
    answer.add_answer(RR("ent.test", rdata=A("192.0.2.1"), ttl=60))
    (corpus / "dns").write_bytes(b"\x00\x07" + b"fr-FR" + bytes(answer.pack()))
    (corpus / "lease").write_bytes(b"\x00\x01en\naa:bb:cc:dd:ee:01\t10.0.0.2\th\tv\t1,3,6\n")
    fuzz("fuzz_portal.py", corpus)


@pytest.mark.timeout(600)
def test_cache_parsers_survive_100k_fuzzed_inputs(tmp_path: Path) -> None:
    """Issue #6: Range headers, hosts, paths, rules and Packages indexes never crash."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "range").write_bytes(b"\x00" * 8 + b"bytes=0-1023\x00bytes 0-1023/4096\x00")
    fuzz("fuzz_cache.py", corpus, 1200)

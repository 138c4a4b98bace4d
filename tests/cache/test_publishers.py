"""Publishers' hashes: a file that differs from what apt's index says is not kept
(issue #6 scope 3: "publisher hashes where available")."""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import time
from pathlib import Path

import pytest

from cache import publishers
from tests.cache.conftest import DEBIAN, CacheLab

POOL = "pool/main/h/hello"


def _packages(entries: list[tuple[str, bytes | str]]) -> str:
    stanzas = []
    for filename, content in entries:
        digest = content if isinstance(content, str) else hashlib.sha256(content).hexdigest()
        stanzas.append(
            f"Package: {filename.rsplit('/', 1)[1].split('_')[0]}\nVersion: 1.0\n"
            f"Filename: {filename}\nSize: 1\nSHA256: {digest}\n"
        )
    return "\n".join(stanzas)


@pytest.mark.parametrize("compress", [None, "gz", "xz"])
def test_packages_indexes_are_read_plain_gzip_or_xz(tmp_path: Path, compress: str | None) -> None:
    text = _packages([(f"{POOL}/hello_1.0_amd64.deb", b"x"), (f"{POOL}/bye_2_all.deb", "ab" * 32)])
    raw = text.encode()
    data = {None: raw, "gz": gzip.compress(raw), "xz": lzma.compress(raw)}[compress]
    path = tmp_path / "index"
    path.write_bytes(data)
    assert list(publishers.packages_hashes(path)) == [
        (f"{POOL}/hello_1.0_amd64.deb", hashlib.sha256(b"x").hexdigest()),
        (f"{POOL}/bye_2_all.deb", "ab" * 32),
    ]


def test_index_paths() -> None:
    index = "/debian/dists/trixie/main/binary-amd64/Packages.xz"
    assert publishers.is_packages_index(index)
    assert publishers.is_packages_index(
        "/debian/dists/trixie/main/binary-amd64/by-hash/SHA256/" + "a" * 64
    )
    assert not publishers.is_packages_index("/debian/dists/trixie/InRelease")
    assert publishers.archive_root(index) == "/debian"
    assert publishers.hash_in_path("/x/by-hash/SHA256/" + "b" * 64) == "b" * 64
    assert publishers.hash_in_path("/debian/pool/main/h/hello.deb") == ""


def test_a_package_differing_from_the_index_is_dropped(cache_lab: CacheLab) -> None:
    archive = cache_lab.files / "debian"
    (archive / POOL).mkdir(parents=True)
    (archive / "dists/trixie/main/binary-amd64").mkdir(parents=True)
    good, bad = os.urandom(600_000), os.urandom(500_000)
    (archive / POOL / "hello_1.0_amd64.deb").write_bytes(good)
    (archive / POOL / "bad_1.0_amd64.deb").write_bytes(bad)
    index = _packages(
        [(f"{POOL}/hello_1.0_amd64.deb", good), (f"{POOL}/bad_1.0_amd64.deb", "0" * 64)]
    )
    (archive / "dists/trixie/main/binary-amd64/Packages.xz").write_bytes(
        lzma.compress(index.encode())
    )
    cache_lab.start_cache()
    got = cache_lab.download("/debian/dists/trixie/main/binary-amd64/Packages.xz", host=DEBIAN)
    assert got.status == 200
    # The index is read once complete; its hashes apply to the pool files fetched next.
    for _ in range(50):
        if "package hashes" in cache_lab.cache_output():
            break
        time.sleep(0.1)
    assert "2 package hashes" in cache_lab.cache_output()
    for name, content in (("hello_1.0_amd64.deb", good), ("bad_1.0_amd64.deb", bad)):
        first = cache_lab.download(f"/debian/{POOL}/{name}", host=DEBIAN)
        assert first.digest == hashlib.sha256(content).hexdigest()  # apt checks it too
    time.sleep(0.5)
    for name in ("hello_1.0_amd64.deb", "bad_1.0_amd64.deb"):
        cache_lab.download(f"/debian/{POOL}/{name}", host=DEBIAN)
    assert cache_lab.origin_sent(f"/debian/{POOL}/hello_1.0_amd64.deb") == len(good)  # a hit
    assert cache_lab.origin_sent(f"/debian/{POOL}/bad_1.0_amd64.deb") == 2 * len(bad)  # dropped
    assert "the publisher says" in cache_lab.cache_output()

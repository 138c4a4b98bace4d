"""Indexes that change under the same name are asked about again after max_age; files
that do not change are not (issue #6 scope 3-4: apt's InRelease vs its pool)."""

from __future__ import annotations

import hashlib
import time

from tests.cache.conftest import DEBIAN, CacheLab

RULES = """
version = "test"

[[rule]]
name = "apt-indexes"
class = "linux"
hosts = ["deb.debian.org"]
paths = ["^/debian/dists/"]
key_host = "debian"
max_age = 1
complete = false

[[rule]]
name = "apt-pool"
class = "linux"
hosts = ["deb.debian.org"]
paths = ["^/debian/pool/"]
key_host = "debian"
"""


def test_an_index_is_revalidated_after_max_age_and_a_package_never(cache_lab: CacheLab) -> None:
    archive = cache_lab.files / "debian"
    (archive / "dists/trixie").mkdir(parents=True)
    (archive / "pool").mkdir(parents=True)
    release = archive / "dists/trixie/InRelease"
    release.write_bytes(b"Suite: trixie\nDate: lundi\n")
    (archive / "pool/a.deb").write_bytes(b"deb" * 1000)
    rules = cache_lab.tmp / "rules.toml"
    rules.write_text(RULES)
    cache_lab.configure(rules_file=str(rules))
    cache_lab.start_cache()
    path = "/debian/dists/trixie/InRelease"
    first = cache_lab.download(path, host=DEBIAN)
    assert first.digest == hashlib.sha256(b"Suite: trixie\nDate: lundi\n").hexdigest()
    time.sleep(0.3)  # the object is retired once its fill ends
    release.write_bytes(b"Suite: trixie\nDate: mardi, new\n")  # new bytes, new ETag
    soon = cache_lab.download(path, host=DEBIAN)
    assert soon.digest == first.digest  # within max_age: from the cache, no question asked
    time.sleep(1.5)
    later = cache_lab.download(path, host=DEBIAN)
    assert later.digest == hashlib.sha256(b"Suite: trixie\nDate: mardi, new\n").hexdigest()
    heads = [r for r in cache_lab.origin_requests() if r["path"] == path and r["sent"] == 0]
    assert heads, "the stale index was checked with the origin"
    # An unchanged index after max_age: one HEAD, no body fetched again.
    time.sleep(1.5)
    sent = cache_lab.origin_sent(path)
    again = cache_lab.download(path, host=DEBIAN)
    assert again.digest == later.digest
    assert cache_lab.origin_sent(path) == sent
    # Packages are immutable: one fetch, however long after.
    for _ in range(2):
        cache_lab.download("/debian/pool/a.deb", host=DEBIAN)
        time.sleep(1.2)
    assert cache_lab.origin_sent("/debian/pool/a.deb") == 3000

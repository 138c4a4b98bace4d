"""The cache is never a general proxy (issue #11, F3): no SSRF to the box, no open relay.

A "secret" HTTP server stands in for the admin UI and WebDAV: it listens on
every address of the appliance namespace (loopback, the LAN and WAN sides),
as the box's own services do. Devices in the LAN namespace try every way of
making the cache reach it: IP literals on a cached CDN path, IPv6 and
IPv4-mapped forms, the unspecified address, the box's own addresses, and a
CDN name that resolves to loopback (DNS rebinding). None reaches it, no
answer is a 500, and no credential is ever forwarded to an origin.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cache.conftest import (
    CACHE_IP,
    ORIGIN,
    ORIGIN_IP,
    WAN_SIDE,
    WINDOWS,
    CacheLab,
    wait_listening,
)

pytestmark = pytest.mark.timeout(240)

# A path the windows-ip-literal rule caches: the most permissive way in.
DO_PATH = "/filestreamingservice/files/secret"
REBIND = "rebind.download.windowsupdate.com"


def _secret_server(lab: CacheLab) -> tuple[subprocess.Popen[bytes], Path]:
    log = lab.tmp / "secret.jsonl"
    root = lab.tmp / "secret-files"
    root.mkdir()
    process = subprocess.Popen(
        ["/usr/sbin/ip", "netns", "exec", lab.appliance, sys.executable, str(ORIGIN),
         "--root", str(root), "--log", str(log), "--host", "", "--port", "8080"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_listening(lab.appliance, "127.0.0.1", 8080)
    return process, log.with_name(log.name + ".seen")


def test_no_request_reaches_the_box_or_loopback_through_the_cache(cache_lab: CacheLab) -> None:
    cache_lab.configure(origins={REBIND: "127.0.0.1:8080", WINDOWS: ORIGIN_IP})
    cache_lab.start_cache()
    secret, seen = _secret_server(cache_lab)
    try:
        attempts = [
            f"http://127.0.0.1:8080{DO_PATH}",
            f"http://127.0.0.2:8080{DO_PATH}",
            f"http://0.0.0.0:8080{DO_PATH}",
            f"http://[::1]:8080{DO_PATH}",
            f"http://[::ffff:127.0.0.1]:8080{DO_PATH}",
            f"http://[::ffff:7f00:1]:8080{DO_PATH}",
            f"http://{CACHE_IP}:8080{DO_PATH}",
            f"http://{WAN_SIDE}:8080{DO_PATH}",
            f"http://169.254.169.254{DO_PATH}",
            f"http://{REBIND}:8080{DO_PATH}",
            f"http://{REBIND}/api/v1/me",
            "http://127.0.0.1:8080/api/v1/me",
        ]
        for url in attempts:
            got = cache_lab.download(url, proxy=True, extra=["-H", "Cookie: session=referent"])
            assert 400 <= got.status < 500, (url, got)
        # Delivery Optimization's form names the origin in the query: same checks.
        for origin in ("127.0.0.1:8080", "[::1]:8080", f"{CACHE_IP}:8080", "bad%20host%21", "a..b"):
            got = cache_lab.download(
                f"http://{CACHE_IP}{DO_PATH}?cacheHostOrigin={origin}", host=CACHE_IP
            )
            assert 400 <= got.status < 500, (origin, got)
        assert not seen.exists() or seen.read_text() == ""
    finally:
        secret.kill()
        secret.wait(10)
    assert "Traceback" not in cache_lab.cache_output()


def test_ip_literals_pass_only_on_their_cdn_paths_and_only_get(cache_lab: CacheLab) -> None:
    cache_lab.add_file("page.bin", 100_000)
    cache_lab.start_cache()
    # An IP literal on a path no CDN uses: refused, the origin never asked.
    for path in ("/files/page.bin", "/nostore/page.bin", "/"):
        got = cache_lab.download(f"http://{ORIGIN_IP}{path}", proxy=True)
        assert got.status == 403, (path, got)
    # Only GET and HEAD: a POST or PUT to an update CDN is not relayed.
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        got = cache_lab.download(
            f"http://{WINDOWS}/nostore/page.bin", proxy=True, extra=["-X", method, "-d", "x"]
        )
        assert got.status == 405, (method, got)
    assert cache_lab.origin_seen() == []


def test_credentials_are_never_forwarded(cache_lab: CacheLab) -> None:
    cache_lab.add_file("page.bin", 100_000)
    cache_lab.start_cache()
    secret_headers = ["-H", "Cookie: session=abc", "-H", "Authorization: Bearer xyz"]
    for path in ("/nostore/page.bin", "/files/page.bin"):  # relayed, then cached
        got = cache_lab.download(path, extra=secret_headers)
        assert got.status == 200, got
    seen = cache_lab.origin_seen()
    assert seen, "the origin was asked"
    assert all(r["cookie"] == "" and r["authorization"] == "" for r in seen), json.dumps(seen)

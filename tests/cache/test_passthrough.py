"""HTTPS to steered names reaches the real origin untouched (issue #6 scope 1: "TLS is
never intercepted: port 443 to those names passes through untouched")."""

from __future__ import annotations

import hashlib
import sys

import pytest

from cache import sni
from tests.cache.conftest import CACHE_IP, WINDOWS, CacheLab, run
from tests.conftest import SchoolCA


def test_https_passes_through_with_the_origins_own_certificate(
    cache_lab: CacheLab, test_ca: SchoolCA
) -> None:
    data = cache_lab.add_file("secure.cab", 3 << 20)
    cache_lab.configure(tls_passthrough=[f"{CACHE_IP}:443"])
    cache_lab.start_cache()
    # curl checks the certificate against the test CA: only the origin has that key.
    https = cache_lab.download(
        f"https://{WINDOWS}/files/secure.cab",
        extra=["--resolve", f"{WINDOWS}:443:{CACHE_IP}", "--cacert", str(test_ca.ca_cert)],
    )
    assert (https.code, https.status) == (0, 200)
    assert https.digest == hashlib.sha256(data).hexdigest()
    assert "X-Preau-Cache" not in https.headers  # the cache never saw the request
    assert cache_lab.origin_sent("/files/secure.cab") == len(data)
    # A name no rule serves is refused: the box is no relay around the DNS filter.
    other = cache_lab.download(
        "https://portail.test/files/secure.cab",
        extra=["--resolve", f"portail.test:443:{CACHE_IP}", "--cacert", str(test_ca.ca_cert)],
    )
    assert other.code != 0
    assert cache_lab.origin_sent("/files/secure.cab") == len(data)
    # Not TLS at all: closed, and the listener still works afterwards.
    probe = (
        f"import socket; s = socket.create_connection(('{CACHE_IP}', 443), 5);"
        " s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); s.settimeout(5);"
        " print(repr(s.recv(100)))"
    )
    garbage = run(sys.executable, "-c", probe, ns=cache_lab.lan)
    assert garbage.stdout.strip() == "b''"  # closed without a byte
    again = cache_lab.download(
        f"https://{WINDOWS}/files/secure.cab",
        extra=["--resolve", f"{WINDOWS}:443:{CACHE_IP}", "--cacert", str(test_ca.ca_cert)],
    )
    assert again.status == 200


def _hello(name: bytes, split: int = 0) -> bytes:
    """Return a minimal ClientHello with ``name`` as SNI, in one record or split in two."""
    entry = b"\x00" + len(name).to_bytes(2, "big") + name
    server_name = len(entry).to_bytes(2, "big") + entry
    extension = b"\x00\x00" + len(server_name).to_bytes(2, "big") + server_name
    padding = b"\x00\x15" + (300).to_bytes(2, "big") + bytes(300)
    extensions = extension + padding
    body = (
        b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
        + len(extensions).to_bytes(2, "big") + extensions
    )  # fmt: skip
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    parts = [handshake[:split], handshake[split:]] if split else [handshake]
    return b"".join(b"\x16\x03\x01" + len(p).to_bytes(2, "big") + p for p in parts)


def test_server_names_from_one_or_several_records() -> None:
    assert sni.server_name(_hello(b"Download.WindowsUpdate.com")) == "download.windowsupdate.com"
    assert sni.server_name(_hello(b"dl.google.com", split=100)) == "dl.google.com"
    whole = _hello(b"dl.google.com")
    for cut in (3, 10, len(whole) - 1):
        with pytest.raises(sni.NeedMore):
            sni.server_name(whole[:cut])
    for bad in (b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\x00", b"\x17\x03\x03\x00\x05hello"):
        with pytest.raises(sni.NotClientHello):
            sni.server_name(bad)

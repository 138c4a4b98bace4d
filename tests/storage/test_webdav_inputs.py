"""WebDAV against bad input and quota games (issue #11: F5, F6, F7, F8; CARMO #8.8, #8.11).

Both shares, as the attacker probed them: names the API refuses (NUL,
newline, U+202E, over 255 bytes, a path under a file, nesting past 1,024
bytes) are refused here too with a 4xx that names no exception; COPY cannot
take a space past its quota; PROPFIND reports the person's own use; every
answer carries the security headers and no version banner.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PreauProcess, free_port, make_config, run_preau, wait_for_port

pytestmark = pytest.mark.timeout(240)
PASSWORD = "mot-de-passe-1"
HEADERS = (
    "content-security-policy",
    "x-frame-options",
    "referrer-policy",
    "x-content-type-options",
)


@dataclass
class Dav:
    """A running WebDAV server and Lina's account on it."""

    port: int
    data: Path
    state: Path

    def url(self, share: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{share}/{path}"

    def call(self, method: str, url: str, *args: str) -> tuple[int, dict[str, str], str]:
        result = subprocess.run(
            ["/usr/bin/curl", "-s", "-u", f"lina:{PASSWORD}", "-X", method, "-D", "-",
             "--path-as-is", *args, url],
            capture_output=True, check=False, timeout=60,
        )  # fmt: skip
        text = result.stdout.decode(errors="replace")
        head, _, body = text.partition("\r\n\r\n")
        while head.startswith("HTTP/1.1 100"):
            head, _, body = body.partition("\r\n\r\n")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP") else 0
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers, body

    def put(self, share: str, path: str, data: bytes, tmp: Path) -> int:
        source = tmp / "upload.bin"
        source.write_bytes(data)
        return self.call("PUT", self.url(share, path), "-T", str(source))[0]

    def usage(self, space: str) -> int:
        with contextlib.closing(sqlite3.connect(self.state)) as conn:
            row = conn.execute(
                "SELECT bytes FROM storage_usage WHERE user = 'lina' AND space = ?", (space,)
            ).fetchone()
        return int(row[0]) if row else 0


@pytest.fixture
def dav(tmp_path: Path, preau_factory: Callable[..., PreauProcess]) -> Dav:
    port = free_port()
    config = make_config(
        tmp_path / "data",
        productions={
            "webdav_listen": f"127.0.0.1:{port}",
            "antivirus": {"enabled": False},
            "quotas": {"pupil": {"pedagogical_mb": 1, "personnel_mb": 1}},
        },
    )
    running = preau_factory(config, "web")
    added = run_preau(
        "user", "add", "lina", "--role", "pupil", "--name", "Lina", "--class", "6A",
        "--password", PASSWORD, config_path=running.config_path,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    wait_for_port("127.0.0.1", port, timeout=20)
    login = subprocess.run(
        ["/usr/bin/curl", "-s", "-H", "Content-Type: application/json",
         "-d", f'{{"login": "lina", "password": "{PASSWORD}"}}',
         f"http://127.0.0.1:{config.web.port}/api/v1/session"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert "csrf_token" in login.stdout, login.stdout
    return Dav(port, config.site.data_dir, config.state_path)


BAD_NAMES = [
    ("nul", "a%00b.txt"),
    ("newline", "a%0Ab.txt"),
    ("bidi", urllib.parse.quote("cours\u202etxt.exe")),
    ("long", "n" * 252 + ".txt"),
    ("long accents", urllib.parse.quote("é" * 128)),
    ("deep", "/".join(["dossier"] * 140) + "/f.txt"),
]


@pytest.mark.parametrize("share", ["pedagogique", "personnel"])
def test_names_the_api_refuses_are_refused_with_a_4xx_naming_no_exception(
    dav: Dav, tmp_path: Path, share: str
) -> None:
    assert dav.put(share, "n" * 251 + ".txt", b"ok", tmp_path) == 201  # 255 bytes fit
    assert dav.put(share, "a.txt", b"a", tmp_path) == 201
    for label, name in BAD_NAMES:
        status, headers, body = dav.call(
            "PUT", dav.url(share, name), "-T", str(tmp_path / "upload.bin")
        )
        assert 400 <= status < 500, (label, status, body[:300])
        assert "Errno" not in body, label
        assert "OSError" not in body, label
        for header in HEADERS:
            assert header in headers, (label, header)
        status, _, _ = dav.call("MKCOL", dav.url(share, name))
        assert 400 <= status < 500, (label, status)
    status, _, body = dav.call(
        "PUT", dav.url(share, "a.txt/child.txt"), "-T", str(tmp_path / "upload.bin")
    )
    assert status == 409, body[:300]
    status, _, _ = dav.call("MKCOL", dav.url(share, "a.txt/sub"))
    assert status == 409
    listing = dav.call("PROPFIND", dav.url(share), "-H", "Depth: 1")
    assert listing[0] == 207
    for header in HEADERS:
        assert header in listing[1], header
    assert "cheroot" not in listing[1].get("server", "").lower()
    assert "wsgidav" not in listing[1].get("server", "").lower()


@pytest.mark.parametrize(
    ("share", "space"), [("pedagogique", "pedagogical"), ("personnel", "personnel")]
)
def test_copy_respects_the_quota_and_propfind_reports_my_own_use(
    dav: Dav, tmp_path: Path, share: str, space: str
) -> None:
    assert dav.put(share, ".cache", b"h" * 100_000, tmp_path) == 201  # hidden names count
    assert dav.put(share, "film.bin", b"f" * 400_000, tmp_path) == 201
    assert dav.usage(space) >= 500_000
    copied = dav.call(
        "COPY", dav.url(share, "film.bin"), "-H", f"Destination: {dav.url(share, 'copie.bin')}"
    )
    assert copied[0] in (201, 204), copied
    again = dav.call(
        "COPY", dav.url(share, "film.bin"), "-H", f"Destination: {dav.url(share, 'copie2.bin')}"
    )
    assert again[0] == 507, again  # 1.3 MB would not fit in 1 MB
    assert dav.call("GET", dav.url(share, "copie2.bin"))[0] == 404
    moved = dav.call(
        "MOVE", dav.url(share, "copie.bin"), "-H", f"Destination: {dav.url(share, 'ailleurs.bin')}"
    )
    assert moved[0] in (201, 204), moved
    assert dav.call("DELETE", dav.url(share, "ailleurs.bin"))[0] == 204
    used = dav.usage(space)
    assert 500_000 <= used < 900_000  # the deleted copy is no longer counted
    status, _, body = dav.call(
        "PROPFIND", dav.url(share), "-H", "Depth: 0", "-H", "Content-Type: application/xml",
        "--data", '<?xml version="1.0"?><propfind xmlns="DAV:"><prop>'
        "<quota-used-bytes/><quota-available-bytes/></prop></propfind>",
    )  # fmt: skip
    assert status == 207
    assert (
        f"<quota-used-bytes>{used}</quota-used-bytes>"
        in body.replace("ns0:", "").replace(":ns0", "")
        or f">{used}<" in body
    ), body
    assert f">{1_000_000 - used}<" in body, body


def test_an_empty_suffix_range_is_not_satisfiable(dav: Dav, tmp_path: Path) -> None:
    assert dav.put("pedagogique", "six.txt", b"123456", tmp_path) == 201
    status, headers, _ = dav.call("GET", dav.url("pedagogique", "six.txt"), "-H", "Range: bytes=-0")
    assert status == 416, headers
    assert headers.get("content-range", "") in ("", "bytes */6")
    status, headers, body = dav.call(
        "GET", dav.url("pedagogique", "six.txt"), "-H", "Range: bytes=-2"
    )
    assert (status, body) == (206, "56")
    assert headers["content-range"] == "bytes 4-5/6"

"""The box fetches a new version itself, past its own filter, and only ever offers it whole.

Issue #17 scope 2 and 4: the index the centre publishes is read over HTTP
from a loopback server; the source's name is asked of a real unbound on
loopback (the updater's fixed resolver: this machine's own resolver does not
know it); RAUC verifies the download with a test key. No room, other bytes
than announced, an unsigned file: refused, the old offer kept, no part left.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dnslib
import pytest

from tests.conftest import free_port, make_config, run_preau, unbound_config_text, write_config
from tests.image_build.slotted import signing_key
from updates import offered

pytestmark = pytest.mark.timeout(120)
NAME = "maj.preau.test"


@dataclass
class Source:
    """A loopback web server publishing files, and the paths asked of it."""

    port: int
    files: dict[str, bytes] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def publish(self, version: str, bundle: bytes, *, sha256: str = "", size: int = 0) -> None:
        """Publish BUNDLE as VERSION, with its index (the digest and size may lie)."""
        self.files[f"/preau/{version}.raucb"] = bundle
        index = {
            "version": version,
            "url": f"{version}.raucb",
            "sha256": sha256 or hashlib.sha256(bundle).hexdigest(),
            "size": size or len(bundle),
        }
        self.files["/preau/index.json"] = json.dumps(index).encode()


@pytest.fixture
def source() -> Iterator[Source]:
    """Serve files on 127.0.0.1 until the test ends."""
    published = Source(0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            published.asked.append(self.path)
            body = published.files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    published.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield published
    server.shutdown()
    server.server_close()


@pytest.fixture
def resolver(tmp_path: Path) -> Iterator[str]:
    """Run unbound on loopback, knowing the source's name; return its ADDRESS:PORT."""
    folder = tmp_path / "unbound"
    folder.mkdir()
    port = free_port()
    conf = unbound_config_text(
        folder, port=port, zones=["preau.test."], data=[f"{NAME}. 60 IN A 127.0.0.1"]
    )
    (folder / "unbound.conf").write_text(conf)
    process = subprocess.Popen(
        ["/usr/sbin/unbound", "-d", "-c", str(folder / "unbound.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        question = dnslib.DNSRecord.question(NAME)
        for _ in range(100):
            try:
                question.send("127.0.0.1", port, timeout=0.2)
                break
            except OSError:
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Box:
    """This machine as a box: its config, update folder and RAUC's keyring."""

    config: Path
    folder: Path
    key: Path
    cert: Path
    work: Path

    def bundle(self, version: str, *, signed: bool = True) -> bytes:
        """Return a small RAUC bundle of VERSION, signed with the box's key (or junk)."""
        if not signed:
            return b"not a bundle " * 2000
        content = self.work / version
        content.mkdir()
        # Random bytes: RAUC wants a squashfs of more than one block.
        (content / "root.img").write_bytes(os.urandom(200_000))
        (content / "manifest.raucm").write_text(
            f"[update]\ncompatible=preau-amd64\nversion={version}\n\n[bundle]\nformat=verity\n\n"
            "[image.rootfs]\nfilename=root.img\n"
        )
        out = self.work / f"{version}.raucb"
        subprocess.run(
            ["rauc", f"--cert={self.cert}", f"--key={self.key}", "bundle", str(content), str(out)],
            check=True,
            capture_output=True,
        )
        return out.read_bytes()


@pytest.fixture
def box(tmp_path: Path, source: Source, resolver: str) -> Box:
    """Return a box whose source is the loopback server, by a name only unbound knows."""
    work = tmp_path / "work"
    work.mkdir()
    key, cert = signing_key(work, "project")
    rauc_conf = work / "system.conf"
    rauc_conf.write_text(
        "[system]\ncompatible=preau-amd64\nbootloader=noop\nbundle-formats=-plain\n\n"
        f"[keyring]\npath={cert}\n"
    )
    folder = tmp_path / "update"
    config = make_config(
        tmp_path / "data",
        updates={
            "folder": str(folder),
            "source_url": f"http://{NAME}:{source.port}/preau/index.json",
            "resolvers": [resolver],
            "rauc_conf": str(rauc_conf),
        },
    )
    return Box(write_config(config, tmp_path / "preau.toml"), folder, key, cert, work)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_a_new_version_is_fetched_by_name_past_the_box_filter_and_offered_once(
    box: Box, source: Source
) -> None:
    bundle = box.bundle("2026.12.1")
    source.publish("2026.12.1", bundle)
    result = run_preau("update", "fetch", config_path=box.config)
    assert result.returncode == 0, result.stderr
    assert "2026.12.1 proposée" in result.stdout
    offer = offered.read_offer(box.folder)
    assert offer is not None
    assert (offer.version, offer.sha256, offer.size) == (
        "2026.12.1",
        hashlib.sha256(bundle).hexdigest(),
        len(bundle),
    )
    assert (box.folder / offered.BUNDLE).read_bytes() == bundle
    # Asked again (the timer, every quarter of an hour): nothing downloaded twice.
    again = run_preau("update", "fetch", config_path=box.config)
    assert again.stdout.strip() == "Pas de nouvelle version."
    assert source.asked.count("/preau/2026.12.1.raucb") == 1
    assert leftovers(box.folder) == []


def test_other_bytes_than_announced_are_dropped_and_the_old_offer_stays(
    box: Box, source: Source
) -> None:
    source.publish("2026.12.1", box.bundle("2026.12.1"))
    assert run_preau("update", "fetch", config_path=box.config).returncode == 0
    first = offered.read_offer(box.folder)
    newer = box.bundle("2026.12.2")
    source.publish("2026.12.2", newer, sha256="0" * 64)
    wrong = run_preau("update", "fetch", config_path=box.config)
    assert wrong.returncode == 1
    assert "n'est pas celui annoncé" in wrong.stderr
    # Longer than announced: the download stops at the announced size.
    source.publish("2026.12.2", newer, size=len(newer) - 10)
    longer = run_preau("update", "fetch", config_path=box.config)
    assert "n'est pas celui annoncé" in longer.stderr
    assert offered.read_offer(box.folder) == first
    assert leftovers(box.folder) == []


def test_an_unsigned_download_is_refused_by_rauc(box: Box, source: Source) -> None:
    source.publish("2026.12.1", box.bundle("2026.12.1", signed=False))
    result = run_preau("update", "fetch", config_path=box.config)
    assert result.returncode == 1, result.stdout
    assert "n'est pas signé par le projet" in result.stderr
    assert offered.read_offer(box.folder) is None
    assert leftovers(box.folder) == []


def test_no_room_refuses_before_a_byte_is_downloaded(box: Box, source: Source) -> None:
    box.folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(box.folder)], check=True)
    try:
        source.publish("2026.12.1", box.bundle("2026.12.1"), size=3_000_000)
        result = run_preau("update", "fetch", config_path=box.config)
        assert result.returncode == 1
        assert "il faut 3,3 Mo libres" in result.stderr
        assert source.asked == ["/preau/index.json"]
    finally:
        subprocess.run(["umount", str(box.folder)], check=True)


def test_an_unreadable_index_and_a_bad_source_are_refused_clearly(
    box: Box, source: Source, tmp_path: Path
) -> None:
    source.files["/preau/index.json"] = b'{"version": "../x", "url": "a", "sha256": "", "size": 1}'
    result = run_preau("update", "fetch", config_path=box.config)
    assert result.returncode == 1
    assert "index des mises à jour est illisible" in result.stderr
    for url in ("ftp://maj.preau.test/index.json", "https://moi:secret@maj.preau.test/i.json"):
        with pytest.raises(ValueError, match="source_url"):
            make_config(tmp_path / "data", updates={"source_url": url})
    with pytest.raises(ValueError, match="resolvers"):
        make_config(tmp_path / "data", updates={"resolvers": ["maj.preau.test"]})


def test_a_bundle_brought_on_a_stick_is_offered_the_same_way(box: Box) -> None:
    stick = box.work / "stick.raucb"
    stick.write_bytes(box.bundle("2026.12.3"))
    result = run_preau("update", "offer", str(stick), config_path=box.config)
    assert result.returncode == 0, result.stderr
    assert "Mise à jour 2026.12.3 proposée" in result.stdout
    offer = offered.read_offer(box.folder)
    assert offer is not None
    assert offer.sha256 == hashlib.sha256(stick.read_bytes()).hexdigest()
    assert leftovers(box.folder) == []

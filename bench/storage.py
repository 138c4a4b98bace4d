"""Productions storage benchmark: the cost of encrypting PERSONNEL.

One `preau run web` (a subprocess, as in production) and one pupil account.
In the same run:

* a large file written and read back through the API into the pedagogical
  space (plain files) and into PERSONNEL (age-encrypted, padded, streamed);
  the page cache is dropped before each read, so reads come from the disk
  as they do on a school box (root needed);
* the same bytes written to the same disk directly (write + fsync) and read
  back cold, the peer;
* reads by curl (a cheap client: a pupil's device does not share the box's
  cores), each twice: cold (from the disk, ``enc_read_ratio``, the target) and
  warm (from memory, ``enc_warm_read_ratio``: only the CPU counts, and the
  benchmark's own client shares it; on a school box the network and the disk
  are slower than either path);
* the time to change the password of a PERSONNEL space holding ``--space-mb``
  (re-sealing the key: no file is touched);
* Préau's own age code (``agefile.py``) against the pyrage binding on the same
  ``--age-mb`` of bytes, each decrypting the other's file (the reason the
  format is hand-written).

Ends with ``RESULT plain_write_mbs=… enc_write_mbs=… enc_write_ratio=…
enc_read_ratio=… enc_warm_read_ratio=… disk_write_mbs=… disk_read_mbs=…
rewrap_s=… age_enc_mbs=… pyrage_enc_mbs=… age_enc_vs_pyrage=…``. Run from the repository:
``.venv/bin/python bench/storage.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bench._peers import free_port, result_line

PASSWORD = "mot-de-passe-eleve-1"  # noqa: S105 - a benchmark account
CHUNK = 1 << 20


async def _body(total: int) -> AsyncIterator[bytes]:
    block = os.urandom(CHUNK)
    sent = 0
    while sent < total:
        size = min(CHUNK, total - sent)
        yield block[:size]
        sent += size


async def _login(session: aiohttp.ClientSession, base: str, password: str) -> str:
    async with session.post(
        f"{base}/api/v1/session", json={"login": "eleve", "password": password}
    ) as response:
        response.raise_for_status()
        return str((await response.json())["csrf_token"])


async def _through_api(base: str, megabytes: int, rounds: int) -> dict[str, float]:
    """Return the median MB/s of each space's write and read over ``rounds``."""
    total = megabytes * 1_000_000
    samples: dict[str, list[float]] = {}
    timeout = aiohttp.ClientTimeout(total=3600)
    jar = aiohttp.CookieJar(unsafe=True)  # the server is an IP address
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=jar) as session:
        token = await _login(session, base, PASSWORD)
        cookies = "; ".join(f"{c.key}={c.value}" for c in jar)
        for _ in range(rounds):
            for space in ("pedagogical", "personnel"):  # alternate: caches treat both alike
                url = f"{base}/api/v1/spaces/{space}/file"
                began = time.perf_counter()
                async with session.put(
                    url,
                    params={"path": "bench/large.bin"},
                    data=_body(total),
                    headers={"X-CSRF-Token": token, "Content-Type": "application/octet-stream"},
                ) as response:
                    response.raise_for_status()
                samples.setdefault(f"{space}_write", []).append(
                    megabytes / (time.perf_counter() - began)
                )
                # Cold: a school's files are read from the disk. Warm: the file is in
                # memory, so only the CPU counts, the hardest case for decryption.
                for kind in ("read", "warm_read"):
                    if kind == "read":
                        _drop_caches()
                    began = time.perf_counter()
                    received = await _curl_get(url, cookies)
                    if received != total:
                        raise SystemExit(f"{space}: read {received} of {total} bytes")
                    samples.setdefault(f"{space}_{kind}", []).append(
                        megabytes / (time.perf_counter() - began)
                    )
    return {key: statistics.median(values) for key, values in samples.items()}


async def _curl_get(url: str, cookies: str) -> int:
    """Download with curl into nothing; return the bytes received.

    curl, not this script's aiohttp client: a reader that costs little CPU, as a
    pupil's device does not share the appliance's cores.
    """
    process = await asyncio.create_subprocess_exec(
        "curl",
        "-sS",
        "-f",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        "-H",
        f"Cookie: {cookies}",
        f"{url}?path=bench/large.bin",
        stdout=subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"curl failed on {url}")
    return int(out.decode())


def _drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def _disk_peer(folder: Path, megabytes: int) -> tuple[float, float]:
    """Return MB/s writing the bytes straight to the disk (with fsync) and reading them back."""
    block = os.urandom(CHUNK)
    total = megabytes * 1_000_000
    path = folder / "disk.bin"
    began = time.perf_counter()
    with path.open("wb") as out:
        written = 0
        while written < total:
            size = min(CHUNK, total - written)
            out.write(block[:size])
            written += size
        out.flush()
        os.fsync(out.fileno())
    write = megabytes / (time.perf_counter() - began)
    _drop_caches()
    began = time.perf_counter()
    with path.open("rb", buffering=0) as source:
        while source.read(CHUNK):
            pass
    read = megabytes / (time.perf_counter() - began)
    path.unlink()
    return write, read


async def _rewrap(config: Any, space_mb: int) -> float:
    """Fill a PERSONNEL space with ``space_mb`` and time a password change."""
    from storage.store import ProductionsStore
    from tests.conftest import opened_core

    async with opened_core(config) as core:
        store = ProductionsStore(core)
        await store.unlock_at_login("eleve", PASSWORD, "bench-session")
        left = space_mb * 1_000_000
        number = 0
        while left > 0:
            size = min(left, 50_000_000)
            await store.put(
                "bench-session", "eleve", "teacher", "personnel", f"fill/{number}.bin", _body(size)
            )
            left -= size
            number += 1
        began = time.perf_counter()
        await store.reseal("bench-session", "eleve", "nouveau-mot-de-passe", old_password=PASSWORD)
        return time.perf_counter() - began


def _age_peer(megabytes: int, rounds: int) -> dict[str, float]:
    """Return MB/s of Préau's age code and of pyrage on the same bytes, both ways.

    The measurement behind hand-writing the age format (``agefile.py``): the
    same plaintext is encrypted to the same recipient by each, and each
    ciphertext is decrypted by the *other* implementation, then compared with
    the plaintext's SHA-256, so only correct, interoperable files count.
    """
    import hashlib
    import io

    import pyrage

    from appliance import agefile

    plain = os.urandom(megabytes * CHUNK)
    digest = hashlib.sha256(plain).digest()
    identity = agefile.generate_identity()
    recipient = agefile.recipient_of(identity)
    ours_enc, ours_dec, theirs_enc, theirs_dec = [], [], [], []
    for _ in range(rounds):
        began = time.perf_counter()
        sink = io.BytesIO()
        writer = agefile.AgeWriter(recipient, sink)
        for start in range(0, len(plain), CHUNK):
            writer.write(plain[start : start + CHUNK])
        writer.close()
        ours_enc.append(time.perf_counter() - began)
        ours = sink.getvalue()
        began = time.perf_counter()
        theirs = pyrage.encrypt(plain, [pyrage.x25519.Recipient.from_str(recipient)])
        theirs_enc.append(time.perf_counter() - began)
        began = time.perf_counter()
        read_by_us = agefile.decrypt_stream(identity, io.BytesIO(theirs))
        ours_dec.append(time.perf_counter() - began)
        began = time.perf_counter()
        read_by_them = pyrage.decrypt(ours, [pyrage.x25519.Identity.from_str(identity)])
        theirs_dec.append(time.perf_counter() - began)
        if hashlib.sha256(read_by_us).digest() != digest:
            raise SystemExit("agefile misread pyrage's file")
        if hashlib.sha256(read_by_them).digest() != digest:
            raise SystemExit("pyrage misread agefile's file")
    rate = lambda times: megabytes * CHUNK / 1e6 / statistics.median(times)  # noqa: E731
    return {
        "age_enc_mbs": rate(ours_enc),
        "pyrage_enc_mbs": rate(theirs_enc),
        "age_dec_mbs": rate(ours_dec),
        "pyrage_dec_mbs": rate(theirs_dec),
    }


def main() -> None:
    """Run the comparison and print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=256, help="size of the large file")
    parser.add_argument("--space-mb", type=int, default=1000, help="PERSONNEL size to rewrap")
    parser.add_argument("--rounds", type=int, default=5, help="medians over this many runs")
    parser.add_argument("--age-mb", type=int, default=128, help="bytes for agefile vs pyrage")
    args = parser.parse_args()
    from tests.conftest import make_config, run_preau, write_config

    with tempfile.TemporaryDirectory(prefix="preau-bench-storage-", dir="/var/tmp") as folder:
        root = Path(folder)
        port = free_port()
        quota = {"pedagogical_mb": 100_000, "personnel_mb": 100_000}
        config = make_config(
            root / "data",
            web={"host": "127.0.0.1", "port": port},
            productions={
                "kdf_profile": "rfc9106-low-memory",
                "quotas": {"pupil": quota, "teacher": quota},
                "max_upload_mb": 100_000,
            },
        )
        path = write_config(config, root / "preau.toml")
        account = ["eleve", "--role", "pupil", "--name", "Élève", "--password", PASSWORD]
        added = run_preau("user", "add", *account, config_path=path)
        if added.returncode != 0:
            raise SystemExit(added.stderr)
        preau = Path(sys.executable).with_name("preau")
        with (root / "web.log").open("wb") as log:
            server = subprocess.Popen(
                [str(preau), "--config", str(path), "run", "web"], stdout=log, stderr=log
            )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            api = asyncio.run(_through_api(base, args.mb, args.rounds))
        finally:
            server.terminate()
            server.wait(10)
        disk_write, disk_read = _disk_peer(root, args.mb)
        rewrap = asyncio.run(_rewrap(config, args.space_mb))
    age = _age_peer(args.age_mb, args.rounds)
    for key, value in api.items():
        print(f"{key}_mbs={value:.1f}")
    print(
        result_line(
            plain_write_mbs=api["pedagogical_write"],
            enc_write_mbs=api["personnel_write"],
            enc_write_ratio=api["personnel_write"] / api["pedagogical_write"],
            enc_read_ratio=api["personnel_read"] / api["pedagogical_read"],
            enc_warm_read_ratio=api["personnel_warm_read"] / api["pedagogical_warm_read"],
            disk_write_mbs=disk_write,
            disk_read_mbs=disk_read,
            rewrap_s=rewrap,
            **age,
            age_enc_vs_pyrage=age["age_enc_mbs"] / age["pyrage_enc_mbs"],
            age_dec_vs_pyrage=age["age_dec_mbs"] / age["pyrage_dec_mbs"],
        )
    )


if __name__ == "__main__":
    main()

"""Update cache benchmark: 30 devices after one cold object, against nginx and Squid.

In network namespaces it creates (devices ⇄ appliance ⇄ WAN, the origin behind
a ``tc``-limited link, ``tests/cache/conftest.py``), the same run puts, in
turn, three caches on the appliance's address:

* Préau (``preau run cache``);
* nginx as LanCache configures it (``slice 1m``, ``proxy_cache_lock`` with
  LanCache's 2 min age and 1 h timeout);
* Squid as a reverse proxy with ``collapsed_forwarding on``.

For each, 30 devices (curl) start together after the same cold object: 20 want
all of it, 10 random 1-16 MiB ranges. Measured: the TCP payload bytes that
crossed the WAN link over the object size (``upstream_ratio``, counted by
nftables on the appliance's WAN side), and the devices' time to first byte
after the first device's (``follower_ttfb_p95_ms``). Every device's bytes
are hashed as they arrive and checked against what it asked for (the whole
object or its range): a peer that truncates or mixes bytes fails the run. Then 30 devices fetch the
cached object at once from Préau and from nginx (``hit_mbs``).

Ends with ``RESULT upstream_ratio=… nginx_upstream_ratio=… squid_upstream_ratio=…
follower_ttfb_p95_ms=… hit_mbs=… nginx_hit_mbs=… hit_ratio_vs_nginx=…``.
Run as root from the repository: ``.venv/bin/python bench/cache.py [--size MiB]``.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._peers import ensure_debian_packages, result_line, which
from tests.cache.conftest import CACHE_IP, ORIGIN_IP, WINDOWS, CacheLab, built_lab, wait_listening

DEVICES = 30
RANGED = 10
MIB = 1 << 20
PATH = "/files/feature-update.esd"


def _nginx_config(folder: Path) -> str:
    return f"""
user root;
worker_processes auto;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  proxy_cache_path {folder}/nginx-cache levels=2:2 keys_zone=generic:64m max_size=20g
                   inactive=200d use_temp_path=off;
  server {{
    listen {CACHE_IP}:80 reuseport;
    location / {{
      slice 1m;
      proxy_cache generic;
      proxy_cache_key $host$uri$slice_range;
      proxy_set_header Range $slice_range;
      proxy_set_header Host $host;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache_valid 200 206 3560d;
      proxy_cache_lock on;
      proxy_cache_lock_age 2m;
      proxy_cache_lock_timeout 1h;
      proxy_ignore_client_abort on;
      proxy_max_temp_file_size 40960m;
      proxy_pass http://{ORIGIN_IP};
    }}
  }}
}}
"""


def _squid_config(folder: Path) -> str:
    return f"""
http_port {CACHE_IP}:80 accel vhost
cache_peer {ORIGIN_IP} parent 80 0 no-query originserver name=origin
http_access allow all
cache_peer_access origin allow all
cache_dir ufs {folder}/squid-cache 20000 16 256
cache_mem 64 MB
maximum_object_size 4 GB
collapsed_forwarding on
quick_abort_min -1 KB
refresh_pattern . 1440 100% 10080
pid_filename {folder}/squid.pid
access_log none
cache_log {folder}/squid-cache.log
cache_effective_user proxy
coredump_dir {folder}
"""


def _forget_squid_memory() -> None:
    for segment in Path("/dev/shm").glob("squid-*"):  # noqa: S108 - Squid's own segments
        segment.unlink(missing_ok=True)


def _start_nginx(lab: CacheLab, folder: Path) -> subprocess.Popen[bytes]:
    (folder / "nginx-cache").mkdir(exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(_nginx_config(folder))
    process = subprocess.Popen(
        ["/usr/sbin/ip", "netns", "exec", lab.appliance, which("nginx"), "-c", str(config),
         "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_listening(lab.appliance, CACHE_IP, 80)
    return process


def _start_squid(lab: CacheLab, folder: Path) -> subprocess.Popen[bytes]:
    (folder / "squid-cache").mkdir(exist_ok=True)
    config = folder / "squid.conf"
    config.write_text(_squid_config(folder))
    # Squid refuses to run as root: its folder belongs to Debian's proxy user.
    folder.parent.chmod(0o755)
    subprocess.run(["/usr/bin/chown", "-R", "proxy:proxy", str(folder)], check=True)
    squid = which("squid")
    _forget_squid_memory()
    subprocess.run(
        ["/usr/sbin/ip", "netns", "exec", lab.appliance, squid, "-z", "-N", "-f", str(config)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    _forget_squid_memory()  # `squid -z` leaves its shared segments behind
    process = subprocess.Popen(
        ["/usr/sbin/ip", "netns", "exec", lab.appliance, squid, "-N", "-f", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_listening(lab.appliance, CACHE_IP, 80, timeout=60)
    return process


def _devices(lab: CacheLab, data: bytes, ranged: int, seed: int) -> list[dict[str, Any]]:
    """Start DEVICES curls at once inside the LAN namespace; return what each saw.

    Each device's body goes through ``sha256sum`` as it arrives (never to disk),
    and its digest is checked against the bytes it asked for: a cache that
    truncates or mixes up ranges fails the run instead of scoring better.
    """
    size = len(data)
    chooser = random.Random(seed)
    lines = []
    wanted: dict[int, tuple[int, int]] = {}
    for number in range(DEVICES):
        extra = ""
        start, length = 0, size
        if number >= DEVICES - ranged:
            length = chooser.randrange(1, 17) * MIB
            start = chooser.randrange(0, size - length)
            extra = f"-r {start}-{start + length - 1}"
        wanted[number] = (start, length)
        timing = lab.tmp / f"device-{number}.w"
        lines.append(
            f"(s=$(date +%s.%N); d=$(curl -s {extra} --resolve {WINDOWS}:80:{CACHE_IP}"
            f' -w "%{{stderr}}$s %{{time_starttransfer}} %{{time_total}} %{{size_download}}'
            f' %{{http_code}}" http://{WINDOWS}{PATH} 2>{timing} | sha256sum | cut -c1-64);'
            f' echo "{number} $(cat {timing}) $d") &'
        )
    script = "\n".join(lines) + "\nwait\n"
    began = time.time()
    done = subprocess.run(
        ["/usr/sbin/ip", "netns", "exec", lab.lan, "sh", "-c", script],
        capture_output=True, text=True, check=True, timeout=7200,
    )  # fmt: skip
    wall = time.time() - began
    full = hashlib.sha256(data).hexdigest()
    seen = []
    for line in done.stdout.splitlines():
        number, start, ttfb, total, received, status, digest = line.split()
        first, length = wanted[int(number)]
        expected = hashlib.sha256(memoryview(data)[first : first + length]).hexdigest()
        # A server may answer a range with the whole object (200): the device then
        # has every byte it asked for (Squid does so for an object it is still fetching).
        right = (int(received) == length and digest == expected) or (
            int(status) == 200 and int(received) == size and digest == full
        )
        seen.append(
            {
                "first_byte": float(start) + float(ttfb),
                "end": float(start) + float(total),
                "bytes": int(received),
                "status": int(status),
                "whole": right,
                "wall": wall,
            }
        )
    return seen


def _cold(lab: CacheLab, data: bytes, name: str) -> tuple[float, float]:
    """Return (upstream bytes / size, follower TTFB p95 ms) for one cold run."""
    size = len(data)
    before = lab.wan_bytes()[1]
    seen = _devices(lab, data, RANGED, seed=42)
    wrong = [s for s in seen if s["status"] not in (200, 206) or not s["whole"]]
    if wrong or len(seen) != DEVICES:
        raise SystemExit(f"{name}: devices got wrong or partial bytes: {wrong or len(seen)}")
    upstream = lab.wan_bytes()[1] - before
    leader = min(s["first_byte"] for s in seen)
    followers = sorted((s["first_byte"] - leader) * 1000 for s in seen)[1:]
    p95 = statistics.quantiles(followers, n=20)[18]
    print(f"{name}: upstream {upstream / size:.3f}x, follower ttfb p95 {p95:.0f} ms,"
          f" slowest device {max(s['end'] for s in seen) - leader:.1f} s")  # fmt: skip
    return upstream / size, p95


def _hits(lab: CacheLab, data: bytes, name: str) -> float:
    """Return MB/s served to DEVICES devices fetching the cached object at once."""
    size = len(data)
    seen = _devices(lab, data, 0, seed=1)
    if any(s["status"] != 200 or not s["whole"] for s in seen):
        raise SystemExit(f"{name}: a hit was not whole")
    began = min(s["first_byte"] for s in seen)
    ended = max(s["end"] for s in seen)
    rate = DEVICES * size / 1e6 / (ended - began)
    print(f"{name}: {DEVICES} hits at {rate:.0f} MB/s")
    return rate


def _peer(
    lab: CacheLab, folder: Path, data: bytes, name: str, start: Callable[[], Any], hits: bool
) -> tuple[float, float, float]:
    process = start()
    try:
        ratio, ttfb = _cold(lab, data, name)
        rate = _hits(lab, data, name) if hits else 0.0
    finally:
        if isinstance(process, subprocess.Popen):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        else:
            lab.stop_cache()
    return ratio, ttfb, rate


def main() -> None:
    """Run the three caches in turn and print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=1024, help="object size in MiB")
    parser.add_argument("--wan-mbit", type=int, default=400, help="the WAN link's rate")
    args = parser.parse_args()
    ensure_debian_packages("nginx", "squid", "curl", "iproute2", "nftables")
    size = args.size * MIB
    with tempfile.TemporaryDirectory(prefix="preau-bench-cache-", dir="/var/tmp") as tmp:
        root = Path(tmp)
        with built_lab(root) as lab:
            data = lab.add_file(Path(PATH).name, size)
            lab.limit_wan(f"{args.wan_mbit}mbit")
            results = {}
            for name in ("preau", "nginx", "squid"):
                folder = root / name
                folder.mkdir()
                if name == "preau":
                    lab.configure(max_size_gb=20, chunk_kib=1024, data_dir=str(folder))

                    def start() -> None:
                        lab.start_cache()

                    starter: Callable[[], Any] = start
                elif name == "nginx":
                    starter = lambda folder=folder: _start_nginx(lab, folder)  # noqa: E731
                else:
                    starter = lambda folder=folder: _start_squid(lab, folder)  # noqa: E731
                results[name] = _peer(lab, folder, data, name, starter, hits=name != "squid")
                shutil.rmtree(folder, ignore_errors=True)
    preau, nginx, squid = results["preau"], results["nginx"], results["squid"]
    print(f"nginx follower ttfb p95 {nginx[1]:.0f} ms, squid {squid[1]:.0f} ms")
    print(
        result_line(
            upstream_ratio=preau[0],
            nginx_upstream_ratio=nginx[0],
            squid_upstream_ratio=squid[0],
            follower_ttfb_p95_ms=preau[1],
            hit_mbs=preau[2],
            nginx_hit_mbs=nginx[2],
            hit_ratio_vs_nginx=preau[2] / nginx[2],
        )
    )


if __name__ == "__main__":
    main()

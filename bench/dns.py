"""DNS filter benchmark: Préau against dnsmasq with the same UT1-shaped list.

Both answer the same dnsperf query file on loopback, forwarding to the same
local unbound: ~60 % names already cached, ~30 % blocked names (with random
subdomains for Préau's UT1 semantics; dnsmasq's ``address=/d/`` blocks
subdomains too), ~10 % names unbound serves with TTL 0 (always forwarded).
Also measured: compile time of the list, Préau's RSS, latency percentiles at
2,000 qps offered, and a list swap under that load (worst latency, lost
queries). Run: ``.venv/bin/python bench/dns.py [--scale 1.0] [--seconds 15]``.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._peers import ensure_debian_packages, free_port, result_line, which
from bench.gen_ut1 import SEED, generate

REPO = Path(__file__).resolve().parent.parent
PREAU = REPO / ".venv" / "bin" / "preau"
CACHED = 1000
FORWARDED = 5000


def wait_dns(port: int, name: str = "c0.bench.test", timeout: float = 600.0) -> None:
    """Wait until a DNS server on loopback answers."""
    deadline = time.monotonic() + timeout
    while True:
        result = subprocess.run(
            [which("dig"), "@127.0.0.1", "-p", str(port), name, "+tries=1", "+time=1"],
            capture_output=True,
            text=True,
            check=False,
        )
        if "status:" in result.stdout:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answers DNS on port {port}")
        time.sleep(0.5)


def start_unbound(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    lines = [
        "server:",
        "  interface: 127.0.0.1",
        f"  port: {port}",
        "  do-ip6: no",
        "  do-daemonize: no",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{folder}"',
        '  pidfile: ""',
        "  use-syslog: no",
        '  logfile: ""',
        "  verbosity: 0",
        "  access-control: 127.0.0.0/8 allow",
        '  module-config: "iterator"',
        "  num-threads: 1",
        "  msg-cache-size: 16m",
        "  rrset-cache-size: 32m",
        '  local-zone: "." static',
        '  local-zone: "bench.test." static',
    ]
    lines += [
        f'  local-data: "c{i}.bench.test. 3600 IN A 192.0.2.{i % 250 + 1}"' for i in range(CACHED)
    ]
    lines += [
        f'  local-data: "f{i}.bench.test. 0 IN A 198.51.100.{i % 250 + 1}"'
        for i in range(FORWARDED)
    ]
    conf = folder / "unbound.conf"
    conf.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen([which("unbound"), "-d", "-c", str(conf)])
    wait_dns(port)
    return process, port


def query_file(tree: Path, out: Path, count: int = 200_000) -> None:
    """Write the dnsperf input: 60 % cached, 30 % blocked, 10 % forwarded."""
    rng = random.Random(SEED)
    blocked: list[str] = []
    for category in ("adult", "malware", "gambling", "redirector"):
        with (tree / "blacklists" / category / "domains").open() as handle:
            for index, line in enumerate(handle):
                if index % 97 == 0:
                    blocked.append(line.strip())
                if len(blocked) > 50_000:
                    break
    lines = []
    for _ in range(count):
        draw = rng.random()
        if draw < 0.6:
            lines.append(f"c{rng.randrange(CACHED)}.bench.test A")
        elif draw < 0.9:
            name = rng.choice(blocked)
            lines.append(f"{'www.' if rng.random() < 0.5 else ''}{name} A")
        else:
            lines.append(f"f{rng.randrange(FORWARDED)}.bench.test A")
    out.write_text("\n".join(lines) + "\n")


def dnsperf(port: int, data: Path, seconds: int, qps: int = 0, verbose: bool = False) -> str:
    argv = [
        which("dnsperf"),
        "-s",
        "127.0.0.1",
        "-p",
        str(port),
        "-d",
        str(data),
        "-l",
        str(seconds),
        "-c",
        "20",
        "-T",
        "1",
        "-t",
        "2",
        "-q",
        "200",
    ]
    if qps:
        argv += ["-Q", str(qps)]
    if verbose:
        argv.append("-v")
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def qps_of(output: str) -> float:
    match = re.search(r"Queries per second:\s+([\d.]+)", output)
    assert match is not None, output[-2000:]
    return float(match.group(1))


def lost_of(output: str) -> int:
    match = re.search(r"Queries lost:\s+(\d+)", output)
    return int(match.group(1)) if match else -1


def latencies_ms(output: str) -> list[float]:
    # dnsperf -v prints one line per answer ending with its latency in seconds.
    return [float(m) * 1000 for m in re.findall(r"^> \S+ .* ([\d.]+)$", output, re.MULTILINE)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else -1.0


def dnsmasq_conf(tree: Path, out: Path, upstream: int, port: int) -> None:
    with out.open("w") as conf:
        conf.write(f"port={port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\n")
        conf.write(f"server=127.0.0.1#{upstream}\ncache-size=10000\nno-hosts\n")
        for domains in sorted((tree / "blacklists").glob("*/domains")):
            with domains.open() as handle:
                for line in handle:
                    name = line.strip()
                    if name and not name[-1].isdigit():
                        conf.write(f"address=/{name}/\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    ensure_debian_packages("dnsperf", "dnsmasq-base", "unbound", "dnsutils")
    cache_dir = REPO / "bench" / "out" / f"ut1-{args.scale}"
    if not (cache_dir / "SEED").is_file():
        generate(cache_dir, args.scale)
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        unbound, unbound_port = start_unbound(folder)
        queries = folder / "queries.txt"
        query_file(cache_dir, queries)
        port = free_port()
        (folder / "preau.toml").write_text(
            f'[site]\ndata_dir = "{folder}/data"\n[logging]\nlevel = "INFO"\n'
            f'[filter]\nlisten = ["127.0.0.1:{port}"]\nupstreams = ["127.0.0.1:{unbound_port}"]\n'
            'client_networks = ["127.0.0.0/8"]\nrate_limit_qps = 1000000\n'
            "rate_limit_burst = 1000000\n"
        )
        config = ["--config", str(folder / "preau.toml")]
        started = time.perf_counter()
        subprocess.run(
            [str(PREAU), *config, "filter", "import-ut1", str(cache_dir)],
            check=True,
            capture_output=True,
        )
        compile_s = time.perf_counter() - started
        log = (folder / "filter.log").open("w")
        preau = subprocess.Popen([str(PREAU), *config, "run", "filter"], stdout=log, stderr=log)
        try:
            wait_dns(port)
            dnsperf(port, queries, 3)  # warm the cache
            preau_out = dnsperf(port, queries, args.seconds)
            rss_mb = psutil.Process(preau.pid).memory_info().rss / 1e6
            # Unique set size: RSS less shared pages (the mapped list is page cache).
            uss_mb = psutil.Process(preau.pid).memory_full_info().uss / 1e6
            steady = dnsperf(port, queries, 10, qps=2000, verbose=True)
            lat = latencies_ms(steady)
            print(f"steady 2,000 qps: lost {lost_of(steady)}")
            # A swap under load: recompile the list while 2,000 qps are offered.
            peak_rss = [rss_mb]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak_rss.append(psutil.Process(preau.pid).memory_info().rss / 1e6)
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample)
            sampler.start()
            # dnsperf -v writes a line per answer: to a file, never to a pipe we
            # do not drain (a full pipe stalls dnsperf and fakes lost queries).
            swap_log = folder / "swap.txt"
            with swap_log.open("w") as sink:
                load = subprocess.Popen(
                    [
                        which("dnsperf"),
                        "-s",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "-d",
                        str(queries),
                        "-l",
                        "20",
                        "-c",
                        "20",
                        "-T",
                        "1",
                        "-t",
                        "2",
                        "-Q",
                        "2000",
                        "-v",
                    ],
                    stdout=sink,
                )
                time.sleep(2)
                subprocess.run(
                    [str(PREAU), *config, "filter", "import-ut1", str(cache_dir)],
                    check=True,
                    capture_output=True,
                )
                load.wait()
            swap_out = swap_log.read_text()
            done.set()
            sampler.join()
            swap_lat = latencies_ms(swap_out)
        finally:
            preau.terminate()
            preau.wait(20)
            log.close()
        swaps = re.findall(r"Lists swapped in ([\d.]+) ms", (folder / "filter.log").read_text())
        dnsmasq_port = free_port()
        dnsmasq_conf(cache_dir, folder / "dnsmasq.conf", unbound_port, dnsmasq_port)
        dnsmasq = subprocess.Popen(
            [
                which("dnsmasq"),
                "--keep-in-foreground",
                "--conf-file=" + str(folder / "dnsmasq.conf"),
                "--user=root",
                "--pid-file=",
            ],
        )
        try:
            wait_dns(dnsmasq_port)
            dnsperf(dnsmasq_port, queries, 3)
            dnsmasq_out = dnsperf(dnsmasq_port, queries, args.seconds)
            dnsmasq_rss = psutil.Process(dnsmasq.pid).memory_info().rss / 1e6
        finally:
            dnsmasq.terminate()
            dnsmasq.wait(20)
            unbound.terminate()
            unbound.wait(20)
    ours, theirs = qps_of(preau_out), qps_of(dnsmasq_out)
    print(f"préau  : {ours:.0f} qps, lost {lost_of(preau_out)}, RSS {rss_mb:.0f} MB")
    print(f"dnsmasq: {theirs:.0f} qps, lost {lost_of(dnsmasq_out)}, RSS {dnsmasq_rss:.0f} MB")
    print(f"swaps: {swaps} ms; peak RSS during swap {max(peak_rss):.0f} MB")
    print(
        result_line(
            qps=ours,
            dnsmasq_qps=theirs,
            ratio=ours / theirs,
            p50_ms=percentile(lat, 0.5),
            p99_ms=percentile(lat, 0.99),
            rss_mb=rss_mb,
            uss_mb=uss_mb,
            reload_rss_mb=max(peak_rss),
            dnsmasq_rss_mb=dnsmasq_rss,
            compile_s=compile_s,
            swap_ms=max((float(s) for s in swaps), default=-1.0),
            swap_max_ms=max(swap_lat, default=-1.0),
            lost_during_swap=lost_of(swap_out),
        )
    )


if __name__ == "__main__":
    main()

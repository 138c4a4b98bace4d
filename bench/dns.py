"""DNS filter benchmark: Préau against Unbound and dnsmasq with the same UT1-shaped list.

The three answer the same dnsperf query file on loopback, forwarding to the
same upstream unbound: ~60 % names already cached, ~30 % blocked names (with
random subdomains for UT1 semantics), ~10 % names the upstream serves with
TTL 0 (always forwarded). The strong peer is Unbound itself used as a filter,
every blocked name a ``local-zone: "name." always_nxdomain`` (which covers
subdomains, like UT1), one thread; dnsmasq (``address=/d/``) is the weak one,
which collapses at UT1 size.

Only verified answers count: every answer dnsperf prints (``-v``) is checked
against the name's expected code (NXDOMAIN for a blocked name, NOERROR for
the others); a wrong code is counted apart and never in the rate. Préau's
figures are also given as ratios to Unbound's (queries per second, memory).
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
from dataclasses import dataclass
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
        # Every other name exists upstream: a filter that fails to block answers
        # NOERROR, which the verification counts as wrong.
        '  local-zone: "." redirect',
        '  local-data: ". 60 IN A 203.0.113.1"',
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


def dnsperf(port: int, data: Path, seconds: int, out: Path, qps: int = 0) -> str:
    """Run dnsperf, every answer written to ``out`` (never a pipe: a full one stalls it)."""
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
        "-v",
    ]
    if qps:
        argv += ["-Q", str(qps)]
    with out.open("w") as sink:
        subprocess.run(argv, stdout=sink, check=True)
    return out.read_text()


_ANSWER = re.compile(r"^> (\S+) (\S+) \S+ ([\d.]+)$", re.MULTILINE)


def expected_code(name: str) -> str:
    """Return the code a correct filter answers for a name of the query file."""
    return "NOERROR" if name.rstrip(".").endswith(".bench.test") else "NXDOMAIN"


@dataclass(frozen=True)
class Verified:
    """What a dnsperf run proved: right answers, wrong ones, their latencies."""

    right: int
    wrong: int
    seconds: float
    latencies_ms: list[float]

    @property
    def qps(self) -> float:
        """Return right answers per second (wrong ones never count)."""
        return self.right / self.seconds


def verify(output: str) -> Verified:
    """Check every answer's code against its name; time from dnsperf's run length."""
    right = wrong = 0
    latencies = []
    for code, name, seconds in _ANSWER.findall(output):
        if code == expected_code(name):
            right += 1
            latencies.append(float(seconds) * 1000)
        else:
            wrong += 1
    match = re.search(r"Run time \(s\):\s+([\d.]+)", output)
    assert match is not None, output[-2000:]
    return Verified(right, wrong, float(match.group(1)), latencies)


def lost_of(output: str) -> int:
    match = re.search(r"Queries lost:\s+(\d+)", output)
    return int(match.group(1)) if match else -1


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


def unbound_filter_conf(tree: Path, out: Path, upstream: int, port: int) -> None:
    """Write Unbound-as-a-filter: every listed name always NXDOMAIN, the rest forwarded."""
    with out.open("w") as conf:
        conf.write(
            "server:\n  interface: 127.0.0.1\n"
            f"  port: {port}\n  do-ip6: no\n  do-daemonize: no\n"
            '  username: ""\n  chroot: ""\n'
            f'  directory: "{out.parent}"\n  pidfile: ""\n  use-syslog: no\n'
            '  logfile: ""\n  verbosity: 0\n  access-control: 127.0.0.0/8 allow\n'
            "  num-threads: 1\n  do-not-query-localhost: no\n"
            # test. is special-use (RFC 6761): Unbound answers it itself by default.
            '  local-zone: "test." nodefault\n'
            '  module-config: "iterator"\n'
        )
        seen: set[str] = set()
        for domains in sorted((tree / "blacklists").glob("*/domains")):
            with domains.open() as handle:
                for line in handle:
                    name = line.strip().lower()
                    if name and not name[-1].isdigit() and name not in seen:
                        seen.add(name)
                        conf.write(f'  local-zone: "{name}." always_nxdomain\n')
        conf.write(f'forward-zone:\n  name: "."\n  forward-addr: 127.0.0.1@{upstream}\n')


def run_peer(
    argv: list[str], port: int, queries: Path, seconds: int, out: Path
) -> tuple[Verified, float, float]:
    """Start a peer, warm it, measure it; return (verified run, RSS MB, seconds to answer)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv)
    try:
        wait_dns(port)
        ready_s = time.perf_counter() - started
        dnsperf(port, queries, 3, out)
        run = verify(dnsperf(port, queries, seconds, out))
        rss = psutil.Process(process.pid).memory_info().rss / 1e6
    finally:
        process.terminate()
        process.wait(60)
    return run, rss, ready_s


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
        upstream, upstream_port = start_unbound(folder)
        queries = folder / "queries.txt"
        query_file(cache_dir, queries)
        port = free_port()
        (folder / "preau.toml").write_text(
            f'[site]\ndata_dir = "{folder}/data"\n[logging]\nlevel = "INFO"\n'
            f'[filter]\nlisten = ["127.0.0.1:{port}"]\nupstreams = ["127.0.0.1:{upstream_port}"]\n'
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
            dnsperf(port, queries, 3, folder / "warm.txt")  # warm the cache
            ours = verify(dnsperf(port, queries, args.seconds, folder / "preau.txt"))
            rss_mb = psutil.Process(preau.pid).memory_info().rss / 1e6
            # Unique set size: RSS less shared pages (the mapped list is page cache).
            uss_mb = psutil.Process(preau.pid).memory_full_info().uss / 1e6
            steady_out = dnsperf(port, queries, 10, folder / "steady.txt", qps=2000)
            steady = verify(steady_out)
            lat = steady.latencies_ms
            print(f"steady 2,000 qps: lost {lost_of(steady_out)}, wrong {steady.wrong}")
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
            swap = verify(swap_out)
            swap_lat = swap.latencies_ms
        finally:
            preau.terminate()
            preau.wait(20)
            log.close()
        swaps = re.findall(r"Lists swapped in ([\d.]+) ms", (folder / "filter.log").read_text())
        unbound_port = free_port()
        unbound_filter_conf(cache_dir, folder / "unbound-filter.conf", upstream_port, unbound_port)
        strong, strong_rss, strong_load_s = run_peer(
            [which("unbound"), "-d", "-c", str(folder / "unbound-filter.conf")],
            unbound_port, queries, args.seconds, folder / "unbound.txt",
        )  # fmt: skip
        dnsmasq_port = free_port()
        dnsmasq_conf(cache_dir, folder / "dnsmasq.conf", upstream_port, dnsmasq_port)
        weak, weak_rss, _ = run_peer(
            [which("dnsmasq"), "--keep-in-foreground",
             "--conf-file=" + str(folder / "dnsmasq.conf"), "--user=root", "--pid-file="],
            dnsmasq_port, queries, args.seconds, folder / "dnsmasq.txt",
        )  # fmt: skip
        upstream.terminate()
        upstream.wait(20)
    print(f"préau  : {ours.qps:.0f} verified qps ({ours.wrong} wrong), RSS {rss_mb:.0f} MB")
    print(f"unbound: {strong.qps:.0f} verified qps ({strong.wrong} wrong), RSS {strong_rss:.0f} MB,"
          f" ready in {strong_load_s:.1f} s")  # fmt: skip
    print(f"dnsmasq: {weak.qps:.0f} verified qps ({weak.wrong} wrong), RSS {weak_rss:.0f} MB")
    print(f"swaps: {swaps} ms; peak RSS during swap {max(peak_rss):.0f} MB")
    print(
        result_line(
            qps=ours.qps,
            wrong=ours.wrong,
            unbound_qps=strong.qps,
            unbound_wrong=strong.wrong,
            qps_vs_unbound=ours.qps / strong.qps,
            rss_vs_unbound=rss_mb / strong_rss,
            dnsmasq_qps=weak.qps,
            dnsmasq_wrong=weak.wrong,
            p50_ms=percentile(lat, 0.5),
            p99_ms=percentile(lat, 0.99),
            rss_mb=rss_mb,
            uss_mb=uss_mb,
            unbound_rss_mb=strong_rss,
            reload_rss_mb=max(peak_rss),
            dnsmasq_rss_mb=weak_rss,
            compile_s=compile_s,
            unbound_load_s=strong_load_s,
            swap_ms=max((float(s) for s in swaps), default=-1.0),
            swap_max_ms=max(swap_lat, default=-1.0),
            swap_wrong=swap.wrong,
            lost_during_swap=lost_of(swap_out),
        )
    )


if __name__ == "__main__":
    main()

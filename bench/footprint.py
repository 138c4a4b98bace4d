"""The whole box in a 1 GiB budget: memory, disk writes, boot, the morning rush (#15 scope 4).

The package is installed on a booted Debian (the boot tests' container,
``tests/image_build/machine.py``), set up through its first-run page, with
every service on: the web UI, the scheduler, the directory, the DNS filter
with a full-size UT1 list (``bench/gen_ut1.py``, 5.5 M names), the captive
portal on the box's pupils' Wi-Fi, the update cache and the link. The
container runs in a memory cgroup capped at 1 GiB, like the smallest
Raspberry Pi, and the host has two cores, like the box.

Measured, each only from what was verified:

- ``total_rss_mb``: resident memory of every process of Préau's units (the
  portal's dnsmasq child included), idle, the list loaded; the largest of
  several samples;
- ``total_rss_load_mb``: the same, largest sample while dnsperf offers
  2,000 queries per second from the host; ``filter_rss_mb``: the filter's
  own, largest sample of both;
- ``swap_mb``: the cgroup's swap in use (this host has none: the cap is hard,
  so ``oom_kills`` must be 0 for the memory figures to mean anything);
- ``writes_mb_day``: sectors written to the box's disk (its loop device) over
  an idle window, scaled to a day; the window is sampled from inside the box
  by one process started before it, so the bench writes nothing meanwhile;
- ``boot_to_serving_s``: from the container's start (after a reboot) until
  the web UI answers and the filter blocks a listed name;
- ``login_rush_p95_ms``: ``--logins`` phones on the pupils' Wi-Fi (macvlan
  interfaces, each its own MAC and address) post their login at once; the
  time runs from the POST until a TCP connection through the box to a host
  on the WAN side succeeds (``bench/portal.py``'s phones). The pupils are
  in the school's directory, a real slapd over StartTLS as in
  ``bench/portal.py`` (the collectivité's, outside the box: it runs in the
  box's network namespace to be reached at 127.0.0.1, but outside its
  memory cap); ``--local-accounts`` makes them the box's own accounts
  instead (argon2id, the small school without a directory);
- ``dns_p99_ms``: the 99th percentile of verified answers at 2,000 qps;
- the peer, ``peer_unbound_rss_mb`` and ``peer_unbound_p99_ms``: Unbound
  used as the filter with the same list (``bench/dns.py``'s strong peer),
  answering the same queries at 2,000 qps, on the host after the box is
  stopped: its resident memory and its p99 (verified answers only).

Where this differs from a 1 GiB virtual machine: the container shares the
host's kernel (whose own memory is not counted) and its two cores with
dnsperf and the phones. Run as root: ``.venv/bin/python bench/footprint.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._peers import ensure_debian_packages, free_port, result_line, which
from bench.dns import dnsperf as dnsperf_loopback
from bench.dns import percentile, unbound_filter_conf, wait_dns
from bench.gen_ut1 import generate
from bench.portal import PHONES, p95
from tests.image_build.box import (
    SUITE,
    first_run,
    open_to_host,
    serving,
    units_state,
    wait_until,
)
from tests.image_build.machine import Container, build_deb, image

REPO = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 1 << 30
GUEST_TMP = "/var/tmp"  # noqa: S108 - a folder of the booted guest, the box's own
# The box has Debian's python3.X (the package's dependency), not the python3 command.
GUEST_PYTHON = "/usr/lib/preau/venv/bin/python"
WAN_PORT = 18080

# Run in the guest: RSS (kB) of every process in each Préau unit's cgroup.
# A unit's cgroup may show in several hierarchies (cgroup v1): each process counts
# once. RSS counts shared pages (libpython, the mapped list) in every process
# that maps them; PSS shares them out, so PSS sums to what the box really holds.
_RSS = r"""
import glob, json
pids = {}
for procs in glob.glob("/sys/fs/cgroup/**/preau-*.service/cgroup.procs", recursive=True):
    pids.setdefault(procs.split("/")[-2], set()).update(open(procs).read().split())
found = {}
for unit, members in pids.items():
    rss = pss = 0
    for pid in members:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    found[unit] = [rss, pss]
print(json.dumps(found))
"""


@contextlib.contextmanager
def memory_cgroup(limit: int) -> Iterator[Path]:
    """Make a memory cgroup capped at ``limit`` under this process's own; remove it after."""
    own = next(
        line.split(":", 2)[2]
        for line in Path("/proc/self/cgroup").read_text().splitlines()
        if ":memory:" in line
    )
    folder = Path("/sys/fs/cgroup/memory") / own.lstrip("/") / f"preau-footprint-{time.time_ns()}"
    folder.mkdir()
    try:
        (folder / "memory.limit_in_bytes").write_text(str(limit))
        yield folder
    finally:
        for pid in (folder / "cgroup.procs").read_text().split():
            subprocess.run(["kill", "-9", pid], check=False)
        with contextlib.suppress(OSError):
            folder.rmdir()


# Run in the guest for the idle window, in one ssh session started before it:
# nothing of the bench touches the box's disk meanwhile (a session a sample
# wrote wtmp and a script file each time, most of what the disk saw). It
# flushes what came before, waits SETTLE seconds (the host reads the disk's
# counter then), samples the units' memory every 15 s and each process's
# written bytes (/proc/PID/io) at both ends, and prints it all at the end.
_IDLE = r"""
import glob, json, os, sys, time
SETTLE, SECONDS = float(sys.argv[1]), float(sys.argv[2])
def written():
    found = {}
    for io in glob.glob("/proc/[0-9]*/io"):
        try:
            count = int(next(l for l in open(io) if l.startswith("write_bytes:")).split()[1])
            pid = io.split("/")[2]
            name = open(f"/proc/{pid}/cmdline").read().replace("\0", " ").strip()[:60]
        except (OSError, StopIteration):
            continue
        found[f"{pid} {name or pid}"] = count
    return found
os.sync()
time.sleep(SETTLE)
before, samples, deadline = written(), [], time.monotonic() + SECONDS
while True:
    samples.append(json.loads(os.popen(sys.executable + " /var/tmp/rss.py").read()))
    left = deadline - time.monotonic()
    if left <= 0:
        break
    time.sleep(min(15, left))
after = written()
print(json.dumps({"samples": samples, "written": {k: after[k] - before.get(k, 0) for k in after}}))
"""
IDLE_SETTLE_S = 10.0


def idle_window(
    machine: Container, seconds: int
) -> tuple[list[dict[str, tuple[float, float]]], list[tuple[int, str]], int, float]:
    """Sample the idle box from inside; return memory samples, writers, bytes written, window."""
    for name, script in (("rss.py", _RSS), ("idle.py", _IDLE)):
        (machine.run_dir / name).write_text(script)
        machine.put(machine.run_dir / name, f"{GUEST_TMP}/{name}")
    found: dict[str, str] = {}
    sampler = threading.Thread(target=lambda: found.update(out=machine.ssh(
        f"{GUEST_PYTHON} {GUEST_TMP}/idle.py {IDLE_SETTLE_S} {seconds}", timeout=seconds + 120
    )[1]))  # fmt: skip
    sampler.start()
    time.sleep(IDLE_SETTLE_S / 2)  # the session is open and flushed; the sampler waits
    before, started = loop_sectors(machine.disk), time.monotonic()
    sampler.join()
    written = (loop_sectors(machine.disk) - before) * 512
    window = time.monotonic() - started
    result = json.loads(found["out"])
    samples = [
        {unit: (r / 1024, p / 1024) for unit, (r, p) in sample.items()}
        for sample in result["samples"]
    ]
    by_process = sorted(((count, name) for name, count in result["written"].items()),
                        reverse=True)  # fmt: skip
    return samples, by_process, written, window


def rss(machine: Container) -> dict[str, tuple[float, float]]:
    """Return each Préau unit's resident memory (RSS, PSS) in MB."""
    out = run_in_guest(machine, _RSS, "rss.py")
    return {unit: (rss / 1024, pss / 1024) for unit, (rss, pss) in json.loads(out).items()}


def loop_sectors(disk: Path) -> int:
    """Return the sectors written so far to the loop device backing ``disk``."""
    line = subprocess.run(
        ["losetup", "-j", str(disk)], capture_output=True, text=True, check=True
    ).stdout
    device = line.split(":", 1)[0].rsplit("/", 1)[-1]
    return int(Path(f"/sys/block/{device}/stat").read_text().split()[6])


def blocks(machine: Container, name: str) -> bool:
    """Tell whether the box's filter answers NXDOMAIN for ``name``."""
    out = subprocess.run(
        [which("dig"), f"@{machine.guest_ip}", name, "+tries=1", "+time=2"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return "status: NXDOMAIN" in out


def query_file(tree: Path, out: Path, count: int = 100_000) -> str:
    """Write the dnsperf input: listed names (blocked) and the one allowed name; return one."""
    blocked = []
    for category in ("adult", "malware", "gambling"):
        with (tree / "blacklists" / category / "domains").open() as handle:
            for index, line in enumerate(handle):
                if index % 53 == 0:
                    blocked.append(line.strip())
                if len(blocked) > 30_000:
                    break
    lines = []
    for i in range(count):
        lines.append("ouvert.preau.test A" if i % 2 else f"{blocked[i % len(blocked)]} A")
    out.write_text("\n".join(lines) + "\n")
    return blocked[0]


def dnsperf(machine: Container, data: Path, seconds: int, qps: int, out: Path) -> str:
    """Offer ``qps`` to the box's filter from the host, every answer written to ``out``."""
    argv = [which("dnsperf"), "-s", machine.guest_ip, "-d", str(data), "-l", str(seconds),
            "-c", "20", "-T", "1", "-t", "2", "-q", "200", "-Q", str(qps), "-v"]  # fmt: skip
    with out.open("w") as sink:
        subprocess.run(argv, stdout=sink, check=True)
    return out.read_text()


def expected(name: str) -> str:
    """Return the code a correct answer has (the allowed name, or a listed one)."""
    return "NOERROR" if name.rstrip(".") == "ouvert.preau.test" else "NXDOMAIN"


def run_in_guest(machine: Container, script: str, name: str, *, user: str = "root") -> str:
    """Run a Python script in the guest with the box's interpreter; return its output."""
    local = machine.run_dir / name
    local.write_text(script)
    machine.put(local, f"{GUEST_TMP}/{name}")
    return machine.ssh(f"runuser -u {user} -- {GUEST_PYTHON} {GUEST_TMP}/{name}")[1]


def settle(machine: Container, values: dict[str, object]) -> None:
    """Merge ``values`` into the box's settings file (as the referent's pages would)."""
    script = (
        "import json\n"
        "from appliance.site_settings import write_settings\n"
        "from pathlib import Path\n"
        f"write_settings(Path('/var/lib/preau'), json.loads({json.dumps(json.dumps(values))}))\n"
    )
    run_in_guest(machine, script, "settle.py", user="preau")


def add_pupils(machine: Container, count: int) -> list[tuple[str, str]]:
    """Create ``count`` local pupil accounts in one process; return (login, password) pairs."""
    pupils = [(f"eleve{i:03d}", f"Cahier-{i:03d}-2026") for i in range(1, count + 1)]
    script = (
        "import asyncio, json, sys\n"
        "from appliance.config import load_config\n"
        "from appliance.core import Core\n"
        "from appliance.identity.model import Person\n"
        "async def main():\n"
        "    core = Core(load_config(None)); await core.async_open()\n"
        "    uai = core.config.site.schools[0].uai\n"
        f"    for login, password in {pupils!r}:\n"
        "        person = Person(login, 'local', login, 'pupil', uai, class_name='6A')\n"
        "        await core.directory.add_local_person(person, password)\n"
        "    await core.async_close()\n"
        "asyncio.run(main())\n"
    )
    run_in_guest(machine, script, "pupils.py", user="preau")
    return pupils


class School:
    """The school's directory: a real slapd holding ``count`` pupils (``bench/portal.py``'s)."""

    def __init__(self, folder: Path, count: int) -> None:
        """Make the directory's CA and its entries; nothing runs yet."""
        from tests.conftest import make_school_ca, school_ldif

        folder.mkdir()
        (folder / "ca").mkdir()
        self.folder = folder
        self.ca = make_school_ca(folder / "ca")
        self.data, self.accounts = school_ldif(extra_pupils=count)
        self.port = 10389  # inside the box's network namespace: free there
        self.server: Any = None
        self.netns = ""

    def configure(self, machine: Container) -> None:
        """Bind the box to the directory (its CA and service password under /etc/preau)."""
        from tests.conftest import LdapServer, ldap_section

        # The test school's binding (bench/portal.py's), at the guest's paths.
        where = SimpleNamespace(uri=f"ldap://127.0.0.1:{self.port}")
        section = ldap_section(cast(LdapServer, where), self.ca.ca_cert, self.folder)
        machine.put(self.ca.ca_cert, "/etc/preau/ldap-ca.pem")
        machine.put(Path(section["bind_password_file"]), "/etc/preau/ldap.secret")
        machine.ssh("chown root:preau /etc/preau/ldap-ca.pem /etc/preau/ldap.secret"
                    " && chmod 0640 /etc/preau/ldap-ca.pem /etc/preau/ldap.secret")  # fmt: skip
        section |= {"ca_file": "/etc/preau/ldap-ca.pem",
                    "bind_password_file": "/etc/preau/ldap.secret"}  # fmt: skip
        settle(machine, {"identity": {"ldap": section}, "portal": {"logins_per_minute": 600}})

    def serve(self, machine: Container) -> list[tuple[str, str]]:
        """Start slapd in the booted box's network namespace; return the pupils' logins."""
        from tests.conftest import start_slapd

        assert machine.process is not None
        leader = subprocess.run(["pgrep", "-P", str(machine.process.pid)], capture_output=True,
                                text=True, check=True).stdout.split()[0]  # fmt: skip
        self.netns = f"box-{machine.name}"[:15]
        subprocess.run(["ip", "netns", "attach", self.netns, leader], check=True)
        (self.folder / f"slapd-{leader}").mkdir()
        self.server = start_slapd(self.folder / f"slapd-{leader}", self.ca, self.data,
                                  self.accounts, netns=self.netns, port=self.port)  # fmt: skip
        return [(a.uid, a.password) for a in self.accounts.values() if a.uid.startswith("eleve")]

    def stop(self) -> None:
        """Stop slapd and forget the namespace's name."""
        if self.server is not None:
            self.server.stop()
        if self.netns:
            subprocess.run(["ip", "netns", "del", self.netns], check=False)


def login_rush(machine: Container, pupils: list[tuple[str, str]], folder: Path) -> float:
    """Return the p95 (ms) from login POST to a connection through the box, all at once."""
    ns = machine.phone_ns
    for key in ("arp_ignore=1", "arp_announce=2", "rp_filter=0"):
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv4.conf.all.{key}"],
                       check=True)  # fmt: skip
    link = f"vp-{machine.name}"[:15]
    script = "".join(
        f"link add link {link} name m{i} type macvlan mode bridge\n"
        f"addr add 10.77.1.{i}/16 dev m{i}\nlink set m{i} up\n"
        f"route add default via 10.77.0.1 dev m{i} metric {i}\n"
        for i in range(1, len(pupils) + 1)
    )
    (folder / "phones.ip").write_text(script)
    subprocess.run(["ip", "-n", ns, "-batch", str(folder / "phones.ip")], check=True)
    # The host is "the internet": the box routes the phones to it once they are online.
    machine.ssh("sysctl -qw net.ipv4.ip_forward=1")
    subprocess.run(["ip", "route", "replace", "10.77.0.0/16", "via", machine.guest_ip],
                   check=True)  # fmt: skip
    host = f"10.213.{machine.subnet}.1"
    listener = subprocess.Popen([sys.executable, "-c",
        f"import socket\ns = socket.create_server(({host!r}, {WAN_PORT}), backlog=1024)\n"
        "while True:\n    s.accept()[0].close()\n"])  # fmt: skip
    try:
        done = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", PHONES, str(len(pupils)), "80",
             json.dumps(pupils), host, str(WAN_PORT)],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"the phones failed:\n{done.stderr[-3000:]}")
    finally:
        listener.terminate()
        subprocess.run(["ip", "route", "del", "10.77.0.0/16"], check=False)
    results = json.loads(done.stdout)
    statuses = {status for _, _, status in results}
    if statuses != {302}:
        raise SystemExit(f"logins answered {statuses}")
    times = sorted((end - start) * 1000 for start, end, _ in results)
    spread = min(start for start, _, _ in results), max(end for _, end, _ in results)
    print(
        f"rush: first online {times[0]:.0f} ms, median {times[len(times) // 2]:.0f} ms, "
        f"last {times[-1]:.0f} ms; all {len(times)} in {(spread[1] - spread[0]) * 1000:.0f} ms"
    )
    return p95(times)


def main() -> None:
    """Measure the whole box in its budget and print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="UT1 list size (1.0: 5.5 M)")
    parser.add_argument("--idle-seconds", type=int, default=300)
    parser.add_argument("--load-seconds", type=int, default=30)
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument(
        "--import-stopped", action="store_true", help="import the list with the services stopped"
    )
    parser.add_argument(
        "--local-accounts", action="store_true", help="pupils as local accounts, not a directory"
    )
    args = parser.parse_args()
    ensure_debian_packages(
        "dnsperf", "dnsutils", "systemd-container", "debootstrap", "slapd", "ldap-utils"
    )
    tree = REPO / "bench" / "out" / f"ut1-{args.scale}"
    if not (tree / "SEED").is_file():
        generate(tree, args.scale)
    with tempfile.TemporaryDirectory(dir="/var/tmp") as name, memory_cgroup(MEMORY_LIMIT) as cg:
        folder = Path(name)
        deb = build_deb(folder / "deb")
        disk = image(SUITE, deb)
        machine = Container(folder=disk, run_dir=folder / "guest")
        machine.run_dir.mkdir()
        machine.phone_ns = f"phone-{machine.name}"
        machine.cgroup = cg
        subprocess.run(["ip", "netns", "add", machine.phone_ns], check=True)
        try:
            machine.start()
            machine.put(deb, f"{GUEST_TMP}/{deb.name}")
            machine.ssh(
                "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
                f"{GUEST_TMP}/{deb.name}"
            )
            open_to_host(machine)
            code = re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}",
                             machine.ssh("preau first-run begin")[1])  # fmt: skip
            assert code is not None
            answer = first_run(machine, code.group(0), pupils_interface="byod0",
                               wan_interface="host0")  # fmt: skip
            assert "Mise en service faite" in answer, answer
            # Every service on; the filter takes dnsperf's one source address at full rate.
            settle(machine, {
                "portal": {"enabled": True, "roles": {"pupil": {"ends_with_school_day": False}}},
                "cache": {"enabled": True},
                "filter": {"rate_limit_qps": 1_000_000, "rate_limit_burst": 1_000_000},
            })  # fmt: skip
            archive = folder / "ut1.tar"
            subprocess.run(["tar", "-C", str(tree), "-cf", str(archive), "blacklists"], check=True)
            machine.put(archive, f"{GUEST_TMP}/ut1.tar")
            unpacked = f"{GUEST_TMP}/ut1"
            machine.ssh(f"mkdir -p {unpacked} && tar -C {unpacked} -xf {GUEST_TMP}/ut1.tar"
                        f" && chown -R preau: {unpacked}")  # fmt: skip
            # Imported with the services running, as the nightly job would; with
            # --import-stopped, with them stopped (when the first does not fit).
            if args.import_stopped:
                machine.ssh("systemctl stop preau.target")
            started = time.monotonic()
            imported = machine.ssh(f"preau filter import-ut1 {unpacked}", timeout=1800, check=False)
            compile_s = time.monotonic() - started
            if imported[0] != 0:
                raise SystemExit(
                    f"import-ut1 exit {imported[0]} after {compile_s:.0f} s (137: killed, "
                    f"out of memory in the 1 GiB cgroup):\n{imported[1][-1500:]}"
                )
            queries = folder / "queries.txt"
            listed = query_file(tree, queries)
            if args.local_accounts:
                pupils = add_pupils(machine, args.logins)
            else:
                ldap = School(folder / "directory", args.logins)
                ldap.configure(machine)
            machine.reboot()
            if not args.local_accounts:
                pupils = ldap.serve(machine)
            wait_until(lambda: serving(machine) and blocks(machine, listed), 300)
            boot_s = time.monotonic() - machine.spawned_at
            states = units_state(machine)
            assert set(states.values()) == {"active"}, states
            # Idle: memory samples and the disk's writes over the window.
            time.sleep(30)
            idle, by_process, written, window_s = idle_window(machine, args.idle_seconds)
            writes_mb_day = written / 1e6 * 86_400 / window_s
            # Under load: dnsperf at 2,000 qps, memory sampled meanwhile.
            loaded: list[dict[str, tuple[float, float]]] = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    loaded.append(rss(machine))
                    stop.wait(3)

            sampler = threading.Thread(target=sample)
            sampler.start()
            try:
                output = dnsperf(machine, queries, args.load_seconds, 2000, folder / "load.txt")
            finally:
                stop.set()
                sampler.join()
            steady = verify_box(output)
            rush_p95 = login_rush(machine, pupils, folder)
            usage = cgroup_figures(cg)
        finally:
            if not args.local_accounts and "ldap" in locals():
                ldap.stop()
            machine.stop()
            subprocess.run(["ip", "netns", "del", machine.phone_ns], check=False)
        # The peer, with the box stopped: the same list and the same queries.
        peer_rss, peer_p99 = unbound_peer(tree, queries, args.load_seconds, folder)
    total_idle = max(sum(r for r, _ in sample.values()) for sample in idle)
    total_load = max(sum(r for r, _ in sample.values()) for sample in loaded)
    pss_idle = max(sum(p for _, p in sample.values()) for sample in idle)
    pss_load = max(sum(p for _, p in sample.values()) for sample in loaded)
    filter_rss = max(s.get("preau-filter.service", (0.0, 0.0))[0] for s in idle + loaded)
    print(f"list: {args.scale} scale, compiled on the box in {compile_s:.0f} s")
    print("idle memory by unit (MB, largest sample): RSS, PSS")
    for unit in sorted(idle[-1]):
        worst = max((s.get(unit, (0.0, 0.0)) for s in idle), key=lambda pair: pair[0])
        print(f"  {unit}: {worst[0]:.1f}, {worst[1]:.1f}")
    print(f"answers at 2,000 qps: {steady[0]} right, {steady[1]} wrong")
    print(f"idle window: {written / 1e6:.2f} MB written to the disk; by process (MB):")
    for count, process in by_process[:8]:
        print(f"  {count / 1e6:8.2f}  {process}")
    print(f"cgroup: peak {usage['peak_mb']:.0f} MB, oom_kills {usage['oom_kills']}")
    print(f"peer, Unbound with the same list: RSS {peer_rss:.0f} MB, p99 {peer_p99:.2f} ms")
    print(
        result_line(
            total_rss_mb=round(total_idle, 1),
            total_rss_load_mb=round(total_load, 1),
            total_pss_mb=round(pss_idle, 1),
            total_pss_load_mb=round(pss_load, 1),
            filter_rss_mb=round(filter_rss, 1),
            swap_mb=round(usage["swap_mb"], 1),
            oom_kills=usage["oom_kills"],
            writes_mb_day=round(writes_mb_day, 1),
            boot_to_serving_s=round(boot_s, 1),
            login_rush_p95_ms=round(rush_p95, 1),
            dns_p99_ms=round(steady[2], 2),
            peer_unbound_rss_mb=round(peer_rss, 1),
            peer_unbound_p99_ms=round(peer_p99, 2),
        )
    )


def unbound_peer(tree: Path, queries: Path, seconds: int, folder: Path) -> tuple[float, float]:
    """Run the peer: Unbound as the filter, the same list and queries; return RSS MB and p99 ms.

    This is how a school filters without Préau (``bench/dns.py``'s strong
    peer): every listed name a ``local-zone always_nxdomain``. It runs on the
    host, outside the 1 GiB cap (which it may not fit), with the allowed
    name answered locally so that nothing is forwarded.
    """
    port = free_port()
    conf = folder / "unbound-peer.conf"
    unbound_filter_conf(tree, conf, free_port(), port)
    with conf.open("a") as handle:
        handle.write(
            'server:\n  local-zone: "ouvert.preau.test." static\n'
            '  local-data: "ouvert.preau.test. 60 IN A 192.0.2.10"\n'
        )
    process = subprocess.Popen([which("unbound"), "-d", "-c", str(conf)])
    try:
        wait_dns(port, "ouvert.preau.test", timeout=1800)
        output = dnsperf_loopback(port, queries, seconds, folder / "peer.txt", qps=2000)
        rss_mb = psutil.Process(process.pid).memory_info().rss / 1e6
    finally:
        process.terminate()
        process.wait(120)
    return rss_mb, verify_box(output)[2]


def verify_box(output: str) -> tuple[int, int, float]:
    """Check every answer's code; return right, wrong and the p99 latency (ms) of the right."""
    right = wrong = 0
    latencies = []
    for code, name, seconds in re.findall(r"^> (\S+) (\S+) \S+ ([\d.]+)$", output, re.MULTILINE):
        if code == expected(name):
            right += 1
            latencies.append(float(seconds) * 1000)
        else:
            wrong += 1
    if not latencies or wrong > right / 100:
        raise SystemExit(f"dnsperf: {right} right, {wrong} wrong answers")
    return right, wrong, percentile(latencies, 0.99)


def cgroup_figures(folder: Path) -> dict[str, float]:
    """Return the cgroup's peak memory, swap in use and OOM kills."""
    peak = int((folder / "memory.max_usage_in_bytes").read_text())
    swap = 0
    memsw = folder / "memory.memsw.usage_in_bytes"
    if memsw.exists():
        swap = max(0, int(memsw.read_text()) - int((folder / "memory.usage_in_bytes").read_text()))
    control = (folder / "memory.oom_control").read_text()
    kills = re.search(r"oom_kill (\d+)", control)
    return {
        "peak_mb": peak / 1e6,
        "swap_mb": swap / 1e6,
        "oom_kills": int(kills.group(1)) if kills else 0,
    }


if __name__ == "__main__":
    main()

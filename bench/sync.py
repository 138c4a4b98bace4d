"""Central sync benchmark: 500 boxes on one nginx, a backlog on a 2 Mbit/s uplink, and a peer.

1. **The fleet** (``--boxes`` 500, ``--minutes`` 10). A real centre: the signed
   repository (``preau-central``) served by nginx, the intake behind it, and a
   stock Prometheus receiving remote_write. Each simulated box is enrolled with
   its own token and key, then, like the sync service: reads the repository
   with python-tuf (its own metadata folder) every ``poll`` ± 20 % from a random
   phase, holds a long-poll on the intake, and every ``poll`` signs a site report
   to the intake and pushes it to Prometheus. A third into the run the centre
   publishes a bundle for every site. Measured:
   - ``poll_spread_cv``: coefficient of variation of the scheduled reads per
     minute (a herd would be far above; ``ideal_cv`` is what independent uniform
     boxes give, 1/√mean);
   - ``policy_p95_s``: from the publication until a box verified the new
     targets version (TUF checked: signatures, versions, hashes);
   - ``bytes_per_site_day``: every byte a box moved through nginx (requests and
     answers, from nginx's log, per box) and to Prometheus, scaled to a day;
   - ``lost``/``duplicated``: each report's key found once at the intake, and
     each report's sample once in Prometheus.
2. **The backlog**: one box (the real sync service, its clock simulated) makes
   24 h of reports every 15 minutes while the WAN is cut, then drains them
   through a veth limited to 2 Mbit/s by ``tc`` (``backlog_24h_drain_s``),
   each arriving once.
3. **The peer**, Prometheus in agent mode (the anchor): it scrapes itself
   each second and remote-writes to the same receiver; the receiver goes
   away for ``--outage`` seconds and the agent restarts meanwhile. Its samples
   from before the restart never arrive (``peer_lost``); ours are all counted.

Ends with ``RESULT boxes=500 poll_spread_cv=… ideal_cv=… policy_p95_s=…
bytes_per_site_day=… backlog_24h_drain_s=… lost=0 duplicated=0 peer_lost=…``.
Targets: the spread within 10 % of the ideal, a bundle applied within poll +
jitter, ≤ 5 MB per site per day, the 24 h backlog drained in ≤ 15 min at
2 Mbit/s, nothing lost, nothing twice. Run as root: ``.venv/bin/python bench/sync.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bench._peers import ensure_debian_packages, free_port, result_line
from sync.credentials import (
    load_box_key,
    mint_token,
    new_box_key,
    public_text,
    sign_request,
    token_text,
)
from sync.intake import Intake
from sync.report import Host, LinkFigures, ServiceState, SiteReport
from sync.repository import CentralRepository
from sync.telemetry import REMOTE_WRITE_HEADERS, remote_write_body
from sync.trust import fetch_policy
from tests.sync.conftest import start_centre, start_prometheus

LOG_FORMAT = 'log_format boxes "$http_user_agent $request_length $bytes_sent";'


def p95(values: list[float]) -> float:
    """Return the 95th percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def query(prometheus_url: str, expression: str) -> list[dict[str, Any]]:
    """Run a Prometheus instant query."""
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=30) as answer:
        result: list[dict[str, Any]] = json.load(answer)["data"]["result"]
    return result


class Box:
    """One simulated box: its key, its metadata folder, what it saw and sent."""

    def __init__(self, index: int, folder: Path) -> None:
        """Make its key and folders."""
        self.uai = f"{9000000 + index:07d}Z"
        self.folder = folder / self.uai
        (self.folder / "tuf").mkdir(parents=True)
        self.key = load_box_key(new_box_key())
        self.box_id = ""
        self.sent: list[str] = []
        self.polls: list[float] = []
        self.version_seen = 0
        self.applied_at: float | None = None


async def enrol(box: Box, repo: CentralRepository, session: aiohttp.ClientSession) -> None:
    """Mint a token for the box and enrol it (as ``preau sync enrol`` does)."""
    settings = repo.settings()
    token = mint_token(
        box.uai, settings["repository"], settings["intake"], repo.root_bytes(), time.time()
    )
    Intake(repo).add_token(token.token_id, box.uai, token.secret_sha256, token.expires)
    (box.folder / "tuf" / "root.json").write_bytes(repo.root_bytes())
    body = {"token": token_text(token), "public_key": public_text(box.key)}
    async with session.post(f"{settings['intake']}/intake/enrol", json=body) as answer:
        answer.raise_for_status()
        box.box_id = (await answer.json())["box_id"]


def refresh(box: Box, repository: str) -> int:
    """Read the repository with python-tuf (blocking); return the targets version."""
    view = fetch_policy(
        box.folder / "tuf", box.folder / "targets", repository, box.uai, dt.datetime.now(dt.UTC)
    )
    return view.version


def report(box: Box, seq: int) -> SiteReport:
    """Return one site report of the box."""
    return SiteReport(
        key=f"{box.box_id}:{seq}",
        uai=box.uai,
        generated_at=time.time(),
        version="0.1.0",
        host=Host(disk_used_percent=41.5, memory_used_percent=37.2, uptime_seconds=86400.0),
        services=[ServiceState(name=n, status="ok") for n in ("directory", "scheduler", "filter",
                                                               "portal", "cache", "sync", "web")],
        link=LinkFigures(policy_version=box.version_seen, policy_stale=False, spool_bytes=0,
                         spool_dropped_total=0),
        figures=[],
    )  # fmt: skip


async def run_box(
    box: Box,
    intake: str,
    repository: str,
    prometheus: str,
    poll: float,
    end: float,
    published: asyncio.Event,
    publish_time: list[float],
    pool: concurrent.futures.Executor,
    session: aiohttp.ClientSession,
    counters: dict[str, int],
) -> None:
    """Poll, long-poll and report like the sync service until ``end``."""
    loop = asyncio.get_running_loop()
    draw = random.Random()
    next_poll = time.monotonic() + draw.uniform(0, poll)  # a fleet running for a while
    next_report = time.monotonic() + draw.uniform(0, poll)
    seq = 0
    timestamp_version = 0

    async def read(scheduled: bool) -> None:
        nonlocal timestamp_version
        if scheduled:
            box.polls.append(time.monotonic())
        version = await loop.run_in_executor(pool, refresh, box, repository)
        data = json.loads((box.folder / "tuf" / "timestamp.json").read_text())
        timestamp_version = int(data["signed"]["version"])
        if version > box.version_seen and box.version_seen and box.applied_at is None:
            box.applied_at = time.monotonic() - publish_time[0]
        box.version_seen = version

    await read(scheduled=False)
    while time.monotonic() < end:
        wait = min(next_poll, next_report, end) - time.monotonic()
        if wait > 0:
            url = f"{intake}/intake/wait?version={timestamp_version}&seconds={min(wait, 50):.1f}"
            try:
                async with session.get(
                    url, timeout=aiohttp.ClientTimeout(total=wait + 15)
                ) as answer:
                    newer = int((await answer.json())["version"]) > timestamp_version
            except (aiohttp.ClientError, TimeoutError):
                newer = False
            if newer:
                await read(scheduled=False)
                continue
        now = time.monotonic()
        if now >= next_poll:
            await read(scheduled=True)
            next_poll = now + poll * draw.uniform(0.8, 1.2)
        if now >= next_report:
            seq += 1
            sent = report(box, seq)
            body = json.dumps([sent.model_dump(by_alias=True)]).encode()
            headers = sign_request(
                box.key, box.box_id, "POST", "/intake/reports", body, time.time()
            )
            headers["Content-Type"] = "application/json"
            async with session.post(
                f"{intake}/intake/reports", data=body, headers=headers
            ) as answer:
                answer.raise_for_status()
                counters["duplicates"] += int((await answer.json())["duplicates"])
            pushed = remote_write_body([sent])
            counters["remote_write_bytes"] += len(pushed) + 200  # headers, roughly
            async with session.post(
                prometheus, data=pushed, headers=REMOTE_WRITE_HEADERS
            ) as answer:
                answer.raise_for_status()
            box.sent.append(sent.key)
            next_report = now + poll * draw.uniform(0.8, 1.2)


async def fleet_part(
    boxes_count: int, minutes: float, poll: float, folder: Path
) -> dict[str, float]:
    """Run the fleet; return its figures."""
    centre = start_centre(folder / "centre")
    conf = centre.folder / "nginx.conf"
    access = folder / "access.log"
    conf.write_text(
        conf.read_text()
        .replace("  access_log off;", f"  {LOG_FORMAT}\n  access_log {access} boxes;")
        .replace("worker_connections 1024", "worker_connections 4096")
    )  # fmt: skip
    centre.cut()
    centre.restore()
    prometheus = start_prometheus(folder / "prometheus", [])
    repo = CentralRepository(centre.central)
    boxes = [Box(index, folder / "boxes") for index in range(boxes_count)]
    counters = {"duplicates": 0, "remote_write_bytes": 0}
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            for box in boxes:
                await enrol(box, repo, session)
            access.write_text("")  # enrolment aside: count the steady state only
            published = asyncio.Event()
            publish_time = [0.0]
            start = time.monotonic()
            end = start + minutes * 60
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                tasks = [
                    asyncio.create_task(
                        run_box(box, centre.url, f"{centre.url}/repository", prometheus.write_url,
                                poll, end, published, publish_time, pool, session, counters)
                    )
                    for box in boxes
                ]  # fmt: skip
                await asyncio.sleep(minutes * 60 / 3)
                bundle = folder / "all.toml"
                bundle.write_text(
                    '[settings]\n"site.name" = { value = "Académie", locked = true }\n'
                )
                publish_time[0] = time.monotonic()
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: centre.cli("publish", str(bundle))
                )
                published.set()
                await asyncio.gather(*tasks)
        # -- what arrived ------------------------------------------------------------
        intake = Intake(repo)
        lost = duplicated = 0
        for box in boxes:
            arrived = intake.arrivals(box.box_id)
            lost += len(set(box.sent) - set(arrived))
            duplicated += len(arrived) - len(set(arrived))
        duplicated += counters["duplicates"]
        await asyncio.sleep(2)
        counted = query(prometheus.url, "count_over_time(preau_host_uptime_seconds[1h])")
        in_prometheus = {row["metric"]["site"]: int(row["value"][1]) for row in counted}
        for box in boxes:
            got = in_prometheus.get(box.uai, 0)
            lost += max(0, len(box.sent) - got)
            duplicated += max(0, got - len(box.sent))
        # -- bytes per box, from nginx's own log -------------------------------------------
        per_box: dict[str, int] = {}
        for line in access.read_text().splitlines():
            parts = line.rsplit(" ", 2)
            if len(parts) == 3:
                per_box[parts[0]] = per_box.get(parts[0], 0) + int(parts[1]) + int(parts[2])
        through_nginx = sum(per_box.values())
        bytes_per_day = (
            (through_nginx + counters["remote_write_bytes"]) / boxes_count * (1440 / minutes)
        )
        # -- spread of the scheduled reads ----------------------------------------------------
        polls = [t - start for box in boxes for t in box.polls]
        buckets = [0] * int(minutes)
        for at in polls:
            if 0 <= at < minutes * 60:
                buckets[int(at // 60)] += 1
        mean = statistics.mean(buckets)
        applied = [box.applied_at for box in boxes if box.applied_at is not None]
        if len(applied) != boxes_count:
            raise SystemExit(f"only {len(applied)} of {boxes_count} boxes verified the new policy")
        return {
            "poll_spread_cv": statistics.pstdev(buckets) / mean,
            "ideal_cv": 1 / mean**0.5,
            "policy_p95_s": p95(applied),
            "bytes_per_site_day": bytes_per_day,
            "lost": lost,
            "duplicated": duplicated,
            "polls": len(polls),
        }
    finally:
        prometheus.process.terminate()
        prometheus.process.wait(10)
        centre.stop()


def backlog_part(folder: Path) -> dict[str, float]:
    """Drain a 24 h backlog through 2 Mbit/s; return the seconds it took."""
    from appliance.config import build_config
    from appliance.core import Core
    from sync.link import enrol as enrol_box
    from sync.service import SyncService
    from sync.state import spool_size

    tag = os.urandom(3).hex()
    centre_ns, near, far = f"bsc{tag}", f"bsn{tag}", f"bsf{tag}"
    sh = lambda *argv: subprocess.run(argv, check=True, capture_output=True)  # noqa: E731
    sh("/usr/sbin/ip", "netns", "add", centre_ns)
    try:
        sh("/usr/sbin/ip", "netns", "exec", centre_ns, "/usr/sbin/ip", "link", "set", "lo", "up")
        sh(
            "/usr/sbin/ip",
            "link",
            "add",
            near,
            "type",
            "veth",
            "peer",
            "name",
            far,
            "netns",
            centre_ns,
        )
        sh("/usr/sbin/ip", "addr", "add", "10.79.9.2/24", "dev", near)
        sh("/usr/sbin/ip", "link", "set", near, "up")
        inside = ("/usr/sbin/ip", "netns", "exec", centre_ns)
        sh(*inside, "/usr/sbin/ip", "addr", "add", "10.79.9.1/24", "dev", far)
        sh("/usr/sbin/ip", "netns", "exec", centre_ns, "/usr/sbin/ip", "link", "set", far, "up")
        for ns, dev in ((None, near), (centre_ns, far)):  # 2 Mbit/s each way
            prefix = ["/usr/sbin/ip", "netns", "exec", ns] if ns else []
            sh(*prefix, "/usr/sbin/tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", "2mbit",
               "burst", "32kbit", "latency", "400ms")  # fmt: skip
        centre = start_centre(folder / "centre", ns=centre_ns, host="10.79.9.1")
        raw = {
            "site": {
                "data_dir": str(folder / "box"),
                "schools": [{"uai": "0750001A", "name": "C"}],
            },
            "web": {"host": "127.0.0.1", "port": free_port()},
            "sync": {"report_minutes": 15, "batch_kib": 256},
        }
        config = build_config(raw)
        clock = [time.time()]

        async def run() -> dict[str, float]:
            core = Core(config)
            await core.async_open()
            try:
                token = centre.cli("token", "0750001A").strip()
                link = await enrol_box(core, token, "bench", "cli")
                service = SyncService(core, lambda: clock[0])
                await service.async_setup()
                await service.turn()
                centre.cut()
                for _ in range(96):  # 24 h of reports, the WAN cut
                    clock[0] += 15 * 60
                    await service.turn()
                waiting = (await spool_size(core.db))[0]
                centre.restore()
                began = time.monotonic()
                while (await spool_size(core.db))[0]:
                    await service.turn()
                drained = time.monotonic() - began
                await service.async_stop()
                arrivals = Intake(CentralRepository(centre.central)).arrivals(link.box_id)
                if len(arrivals) != len(set(arrivals)) or len(arrivals) < waiting:
                    raise SystemExit(f"backlog: {len(arrivals)} arrived for {waiting} waiting")
                return {"backlog_24h_drain_s": drained, "backlog_reports": float(waiting)}
            finally:
                await core.async_close()

        try:
            return asyncio.run(run())
        finally:
            centre.stop()
    finally:
        for pid in subprocess.run(["/usr/sbin/ip", "netns", "pids", centre_ns], capture_output=True,
                                  text=True, check=False).stdout.split():  # fmt: skip
            subprocess.run(["/usr/bin/kill", "-9", pid], check=False)
        subprocess.run(["/usr/sbin/ip", "netns", "del", centre_ns], check=False)
        subprocess.run(["/usr/sbin/ip", "link", "del", near], check=False, capture_output=True)


def peer_part(folder: Path, outage: float) -> dict[str, float]:
    """Prometheus in agent mode through an outage with a restart: count what it lost."""
    port, agent_port = free_port(), free_port()
    receiver_config = folder / "receiver.yml"
    receiver_config.write_text(json.dumps({"global": {"scrape_interval": "1s"}}))
    receiver_argv = [
        "prometheus",
        f"--config.file={receiver_config}",
        f"--storage.tsdb.path={folder / 'receiver'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-remote-write-receiver",
    ]
    agent_config = folder / "agent.yml"
    agent_config.write_text(json.dumps({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "agent",
                            "static_configs": [{"targets": [f"127.0.0.1:{agent_port}"]}]}],
        "remote_write": [{"url": f"http://127.0.0.1:{port}/api/v1/write"}],
    }))  # fmt: skip
    agent_argv = ["prometheus", "--enable-feature=agent", f"--config.file={agent_config}",
                  f"--storage.agent.path={folder / 'agent'}",
                  f"--web.listen-address=127.0.0.1:{agent_port}"]  # fmt: skip

    def start(argv: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(process: subprocess.Popen[bytes]) -> None:
        process.terminate()  # the agent may not stop while it cannot send: then kill it
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def ready(at: int) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{at}/-/ready", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"prometheus on {at} never got ready") from None
                time.sleep(0.2)

    receiver, agent = start(receiver_argv), start(agent_argv)
    ready(port)
    ready(agent_port)
    running = 0.0
    try:
        began = time.monotonic()
        time.sleep(20)
        stop(receiver)  # the WAN goes
        time.sleep(outage / 2)
        stop(agent)  # the box restarts during the outage
        running += time.monotonic() - began
        agent = start(agent_argv)
        ready(agent_port)
        began = time.monotonic()
        time.sleep(outage / 2)
        receiver = start(receiver_argv)  # the WAN is back
        ready(port)
        time.sleep(30)  # the agent's queue drains
        running += time.monotonic() - began
        found = query(f"http://127.0.0.1:{port}", 'count_over_time(up{job="agent"}[1h])')
        received = int(found[0]["value"][1]) if found else 0
        return {"peer_lost": max(0.0, running - received), "peer_expected": running}
    finally:
        for process in (agent, receiver):
            stop(process)


def main() -> None:
    """Run the three parts and print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--boxes", type=int, default=500)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--poll-minutes", type=float, default=15)
    parser.add_argument("--outage", type=float, default=60)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (network namespaces, tc)")
    ensure_debian_packages("nginx", "prometheus", "iproute2")
    with tempfile.TemporaryDirectory(prefix="preau-bench-fleet-") as folder:
        fleet = asyncio.run(
            fleet_part(args.boxes, args.minutes, args.poll_minutes * 60, Path(folder))
        )
    with tempfile.TemporaryDirectory(prefix="preau-bench-backlog-") as folder:
        backlog = backlog_part(Path(folder))
    with tempfile.TemporaryDirectory(prefix="preau-bench-peer-") as folder:
        peer = peer_part(Path(folder), args.outage)
    print(f"fleet: {fleet['polls']:.0f} scheduled reads")
    print(f"backlog: {backlog['backlog_reports']:.0f} reports")
    print(f"peer: {peer['peer_lost']:.0f} of {peer['peer_expected']:.0f} samples lost")
    print(
        result_line(
            boxes=args.boxes,
            poll_spread_cv=fleet["poll_spread_cv"],
            ideal_cv=fleet["ideal_cv"],
            policy_p95_s=fleet["policy_p95_s"],
            bytes_per_site_day=round(fleet["bytes_per_site_day"]),
            backlog_24h_drain_s=backlog["backlog_24h_drain_s"],
            lost=int(fleet["lost"]),
            duplicated=int(fleet["duplicated"]),
            peer_lost=int(peer["peer_lost"]),
        )
    )


if __name__ == "__main__":
    main()

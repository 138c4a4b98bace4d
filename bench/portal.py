"""Captive portal benchmark: the kernel gate and login-to-online.

1. Gate cost. In a network namespace of its own, with libnftables in
   process as the portal uses it: authorise and deauthorise one client
   (p95 of ``--ops`` operations) with 100, 2,000 and 20,000 clients already
   in the sets; and the peer, per-client rules (the openNDS / pf model: one
   rule per client, deauthorise = list the chain for the handle, delete it),
   at the same sizes. Then the counter sweep at 2,000 clients: read every
   counter from the kernel, plan the reconcile, run the pure session sweep.
2. Login to online. Three namespaces (``--logins`` phones as macvlan
   interfaces, each its own MAC and address; the appliance with
   ``preau run portal`` and a real slapd over StartTLS; the internet), every
   phone posts its credentials at once; the time runs from the POST until a
   TCP connection to the internet host succeeds.

Ends with ``RESULT auth_p95_ms=… deauth_p95_ms=… sweep_ms=… login_p95_ms=…
logins_per_s=…`` (the worst p95 over the sizes), plus the peer's figures.
Run as root from the repository: ``.venv/bin/python bench/portal.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._peers import ensure_debian_packages, result_line

IP = "/usr/sbin/ip"
PORT = 8082


def _client(i: int) -> tuple[str, str]:
    return f"02:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}:00:01", (
        f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
    )


def _login(mac: str, ip: str) -> list[dict[str, Any]]:
    """Return the batch a login applies (as the portal does: one atomic batch)."""
    from captive_portal import ruleset

    return [*ruleset.authorise(mac, ip, 3600), ruleset.authorise_mac(mac, 3600)]


def p95(values: list[float]) -> float:
    """Return the 95th percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def _peer_rules(table: Any) -> int:
    """Return how many rules the peer's chain holds."""
    query = {"list": {"chain": {"family": "inet", "table": "peer", "name": "clients"}}}
    listing = json.loads(table._run(json.dumps({"nftables": [query]}), json_mode=True))
    return sum(1 for item in listing["nftables"] if "rule" in item)


def kernel_part(sizes: list[int], ops: int) -> dict[str, Any]:
    """Measure the gate inside the current (benchmark) namespace.

    Préau and the peer get the same ``ops`` samples at each size (a p95 of 20
    samples is their maximum: never compared with a p95 of 200), and each
    phase is checked in the kernel afterwards: every authorised client is
    there, every removed one is gone, or the run fails.
    """
    from captive_portal import ruleset
    from captive_portal.nftables import NftTable
    from captive_portal.sessions import Device, RolePolicy, Session, sweep

    table = NftTable(in_process=True)
    net = ruleset.PortalNetwork("byod0", "wan0", "10.0.0.1", 80)
    out: dict[str, Any] = {"sizes": {}}
    for size in sizes:
        table.load(ruleset.render_table(net))
        for start in range(0, size, 5000):
            batch: list[dict[str, Any]] = []
            for i in range(start, min(size, start + 5000)):
                batch += _login(*_client(i))
            table.apply(batch)
        auth, deauth = [], []
        for i in range(size + 1, size + 1 + ops):
            mac, ip = _client(i)
            began = time.perf_counter()
            table.apply(_login(mac, ip))
            auth.append((time.perf_counter() - began) * 1000)
        added = {_client(i)[0] for i in range(size + 1, size + 1 + ops)}
        assert added <= set(table.state().macs), "an authorisation is missing from the kernel"
        for i in range(size + 1, size + 1 + ops):
            mac, ip = _client(i)
            began = time.perf_counter()
            table.apply([*ruleset.deauthorise(mac, ip), ruleset.deauthorise_mac(mac)])
            deauth.append((time.perf_counter() - began) * 1000)
        assert not added & set(table.state().macs), "a removed client is still authorised"
        # The peer: one rule per client in a chain of its own.
        peer = "table inet peer\ndelete table inet peer\ntable inet peer {\n chain clients {\n"
        peer += "  type filter hook forward priority 10; policy accept;\n"
        peer += "".join(
            f"  ether saddr {mac} ip saddr {ip} counter accept\n"
            for mac, ip in (_client(i) for i in range(size))
        )
        table.load(peer + " }\n}\n")
        peer_auth, peer_deauth = [], []
        for i in range(size + 1, size + 1 + ops):
            mac, ip = _client(i)
            began = time.perf_counter()
            table._run(
                f"add rule inet peer clients ether saddr {mac} ip saddr {ip} counter accept",
                json_mode=False,
            )
            peer_auth.append((time.perf_counter() - began) * 1000)
        assert _peer_rules(table) == size + ops, "a peer rule is missing"
        for i in range(size + 1, size + 1 + ops):
            mac, ip = _client(i)
            began = time.perf_counter()
            query = {"list": {"chain": {"family": "inet", "table": "peer", "name": "clients"}}}
            listing = json.loads(table._run(json.dumps({"nftables": [query]}), json_mode=True))
            handle = next(
                item["rule"]["handle"]
                for item in listing["nftables"]
                if "rule" in item and f'"{ip}"' in json.dumps(item["rule"]["expr"])
            )
            table._run(f"delete rule inet peer clients handle {handle}", json_mode=False)
            peer_deauth.append((time.perf_counter() - began) * 1000)
        assert _peer_rules(table) == size, "a removed peer rule is still there"
        table._run("delete table inet peer", json_mode=False)
        out["sizes"][size] = {
            "auth_p95_ms": p95(auth),
            "deauth_p95_ms": p95(deauth),
            "peer_auth_p95_ms": p95(peer_auth),
            "peer_deauth_p95_ms": p95(peer_deauth),
        }
        print(f"size={size} {out['sizes'][size]}", file=sys.stderr, flush=True)
    # The sweep at 2,000 clients: read counters, run the pure sweep, plan the reconcile.
    table.load(ruleset.render_table(net))
    clients = [_client(i) for i in range(2000)]
    batch = []
    for mac, ip in clients:
        batch += _login(mac, ip)
    table.apply(batch)
    now = time.time()
    policy = RolePolicy()
    sessions = [
        Session(f"user{i}", "pupil", now, now + 3600, (Device(mac, ip, now, now, True),))
        for i, (mac, ip) in enumerate(clients)
    ]
    times = []
    for _ in range(20):
        began = time.perf_counter()
        kernel = table.state()
        deltas = {c.mac: c.up_bytes + c.down_bytes for c in kernel.clients}
        wanted = []
        for session in sessions:
            device = session.devices[0]
            updated, _ = sweep(session, now, policy, {device.mac: (deltas[device.mac], False)})
            assert updated is not None
            wanted.append(ruleset.Wanted(device.mac, device.ip, int(updated.ends_at - now)))
        commands, _ = ruleset.reconcile(kernel, wanted, {})
        times.append((time.perf_counter() - began) * 1000)
        assert commands == [], "the reconcile plan must be empty when the kernel is right"
    out["sweep_ms"] = statistics.median(times)
    out["sweep_max_ms"] = max(times)
    table._run("delete table inet preau_portal", json_mode=False)
    return out


# Run in the phones' namespace: COUNT PORT ACCOUNTS WAN_ADDRESS WAN_PORT; prints the results.
PHONES = r"""
import asyncio, json, re, socket, sys, time, urllib.parse
count, port = int(sys.argv[1]), int(sys.argv[2])
accounts = json.loads(sys.argv[3])
PORTAL, WAN = ("10.77.0.1", port), (sys.argv[4], int(sys.argv[5]))
loop = None

async def bound(dev, ip, address):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
    sock.bind((ip, 0))
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock

async def http(dev, ip, method, path, body=b""):
    sock = await bound(dev, ip, PORTAL)
    reader, writer = await asyncio.open_connection(sock=sock)
    head = (f"{method} {path} HTTP/1.1\r\nHost: 10.77.0.1:{port}\r\nConnection: close\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    writer.write(head.encode() + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return int(data.split(b" ", 2)[1]), data

async def phone(i, uid, password, go):
    dev, ip = f"m{i}", f"10.77.1.{i}"
    _, page = await http(dev, ip, "GET", "/login")
    token = re.search(rb'name="form_token" value="([^"]+)"', page).group(1).decode()
    charter = re.search(rb'name="charter_version" value="([^"]+)"', page).group(1).decode()
    body = urllib.parse.urlencode({"form_token": token, "login": uid, "password": password,
                                   "charter": "accepted", "charter_version": charter}).encode()
    await go.wait()
    start = time.perf_counter()
    status, _ = await http(dev, ip, "POST", "/login", body)
    while True:
        try:
            sock = await asyncio.wait_for(bound(dev, ip, WAN), 2)
            sock.close()
            break
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.005)
    return start, time.perf_counter(), status

async def main():
    go = asyncio.Event()
    tasks = [asyncio.create_task(phone(i, *accounts[i - 1], go)) for i in range(1, count + 1)]
    await asyncio.sleep(2)
    go.set()
    results = await asyncio.gather(*tasks)
    print(json.dumps(results))

asyncio.run(main())
"""


def run(*argv: str, ns: str = "", check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command, inside namespace ``ns`` if given."""
    full = [IP, "netns", "exec", ns, *argv] if ns else list(argv)
    return subprocess.run(full, capture_output=True, text=True, check=check, timeout=600)


def login_part(count: int, folder: Path) -> dict[str, Any]:
    """Measure login-to-online for ``count`` phones logging in at once."""
    from tests.conftest import (
        free_port,
        ldap_section,
        make_config,
        make_school_ca,
        school_ldif,
        start_slapd,
        write_config,
    )

    tag = secrets.token_hex(2)
    phones, appliance, wan = f"bp{tag}", f"ba{tag}", f"bw{tag}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for ns in (phones, appliance, wan):
            run(IP, "netns", "add", ns)
            run(IP, "link", "set", "lo", "up", ns=ns)
        run(
            IP,
            "link",
            "add",
            "cv",
            "netns",
            phones,
            "type",
            "veth",
            "peer",
            "name",
            f"byod{tag}",
            "netns",
            appliance,
        )
        run(
            IP,
            "link",
            "add",
            f"wan{tag}",
            "netns",
            appliance,
            "type",
            "veth",
            "peer",
            "name",
            "wv",
            "netns",
            wan,
        )
        run(IP, "addr", "add", "10.77.0.1/16", "dev", f"byod{tag}", ns=appliance)
        run(IP, "addr", "add", "10.78.0.1/24", "dev", f"wan{tag}", ns=appliance)
        run(IP, "addr", "add", "10.78.0.2/24", "dev", "wv", ns=wan)
        for ns, link in ((appliance, f"byod{tag}"), (appliance, f"wan{tag}"), (wan, "wv")):
            run(IP, "link", "set", link, "up", ns=ns)
        run(IP, "link", "set", "cv", "up", ns=phones)
        run(IP, "route", "add", "default", "via", "10.78.0.1", ns=wan)
        run("/usr/sbin/sysctl", "-qw", "net.ipv4.ip_forward=1", ns=appliance)
        for key in ("arp_ignore=1", "arp_announce=2", "rp_filter=0"):
            run("/usr/sbin/sysctl", "-qw", f"net.ipv4.conf.all.{key}", ns=phones)
        script = "".join(
            f"link add link cv name m{i} type macvlan mode bridge\n"
            f"addr add 10.77.1.{i}/16 dev m{i}\nlink set m{i} up\n"
            f"route add default via 10.77.0.1 dev m{i} metric {i}\n"
            for i in range(1, count + 1)
        )
        batch = folder / "phones.ip"
        batch.write_text(script)
        run(IP, "-batch", str(batch), ns=phones)
        listener = (
            "import socket\ns = socket.create_server(('10.78.0.2', 8080), backlog=1024)\n"
            "while True:\n    s.accept()[0].close()\n"
        )
        processes.append(
            subprocess.Popen([IP, "netns", "exec", wan, sys.executable, "-c", listener])
        )
        (folder / "ca").mkdir()
        ca = make_school_ca(folder / "ca")
        data, accounts = school_ldif(extra_pupils=count)
        (folder / "slapd").mkdir()
        server = start_slapd(folder / "slapd", ca, data, accounts, netns=appliance)
        assert server.process is not None
        processes.append(server.process)
        config = make_config(
            folder / "data",
            identity={"ldap": ldap_section(server, ca.ca_cert, folder)},
            portal={
                "enabled": True,
                "byod_interface": f"byod{tag}",
                "wan_interface": f"wan{tag}",
                "address": "10.77.0.1",
                "http_port": PORT,
                "dhcp": False,
                "logins_per_minute": 600,
                # The benchmark logs pupils in at any hour, school day or not.
                "roles": {"pupil": {"ends_with_school_day": False}},
            },
            web={"host": "127.0.0.1", "port": free_port()},
        )
        path = write_config(config, folder / "preau.toml")
        preau = Path(sys.executable).with_name("preau")
        log = (folder / "portal.log").open("wb")
        processes.append(
            subprocess.Popen(
                [
                    IP,
                    "netns",
                    "exec",
                    appliance,
                    str(preau),
                    "--config",
                    str(path),
                    "run",
                    "portal",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        probe = f"import socket; socket.create_connection(('10.77.0.1', {PORT}), 0.5).close()"
        for _ in range(200):
            if run(sys.executable, "-c", probe, ns=appliance, check=False).returncode == 0:
                break
            time.sleep(0.1)
        pupils = [(a.uid, a.password) for a in accounts.values() if a.uid.startswith("eleve")]
        done = run(
            sys.executable,
            "-c",
            PHONES,
            str(count),
            str(PORT),
            json.dumps(pupils),
            "10.78.0.2",
            "8080",
            ns=phones,
        )
        results = json.loads(done.stdout)
        statuses = {status for _, _, status in results}
        if statuses != {302}:
            tail = (folder / "portal.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"logins answered {statuses}: {tail}")
        latencies = [(end - start) * 1000 for start, end, _ in results]
        span = max(end for _, end, _ in results) - min(start for start, _, _ in results)
        return {
            "login_p50_ms": statistics.median(latencies),
            "login_p95_ms": p95(latencies),
            "logins_per_s": count / span,
        }
    finally:
        for process in processes:
            process.terminate()
        for ns in (phones, appliance, wan):
            for pid in run(IP, "netns", "pids", ns, check=False).stdout.split():
                run("/usr/bin/kill", "-9", pid, check=False)
            run(IP, "netns", "del", ns, check=False)


def main() -> None:
    """Run both parts and print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,2000,20000")
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--kernel-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.kernel_only:
        print(json.dumps(kernel_part(sizes, args.ops)))
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root (network namespaces, nftables)")
    ensure_debian_packages("nftables", "libnftables1", "slapd", "ldap-utils", "iproute2")
    ns = f"bk{secrets.token_hex(2)}"
    run(IP, "netns", "add", ns)
    try:
        kernel = json.loads(
            run(
                sys.executable,
                __file__,
                "--kernel-only",
                "--sizes",
                args.sizes,
                "--ops",
                str(args.ops),
                ns=ns,
            ).stdout
        )
    finally:
        run(IP, "netns", "del", ns, check=False)
    with tempfile.TemporaryDirectory(prefix="preau-bench-portal-") as folder:
        login = login_part(args.logins, Path(folder))
    per_size = kernel["sizes"]
    for size, figures in per_size.items():
        print(f"clients={size} " + " ".join(f"{k}={v:.3f}" for k, v in figures.items()))
    print(f"login p50 {login['login_p50_ms']:.1f} ms, sweep max {kernel['sweep_max_ms']:.1f} ms")
    print(
        result_line(
            auth_p95_ms=max(f["auth_p95_ms"] for f in per_size.values()),
            deauth_p95_ms=max(f["deauth_p95_ms"] for f in per_size.values()),
            sweep_ms=kernel["sweep_ms"],
            login_p95_ms=login["login_p95_ms"],
            logins_per_s=login["logins_per_s"],
            peer_rules_auth_p95_ms=max(f["peer_auth_p95_ms"] for f in per_size.values()),
            peer_rules_deauth_p95_ms=max(f["peer_deauth_p95_ms"] for f in per_size.values()),
        )
    )


if __name__ == "__main__":
    main()

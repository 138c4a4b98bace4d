"""Class controls benchmark: a teacher's tap to 35 devices cut, and the directory sync.

1. The tap (issue #13, CARMO #9.2, #9.21). Namespaces as in ``bench/portal.py``:
   ``--devices`` phones (macvlan interfaces, each its MAC and address), the
   appliance (``preau run portal filter web`` and a real slapd over StartTLS),
   the internet (unbound answering ``cours.test``, and a TCP listener), plus an
   admin link to the web API. The pupils of 4C log in through the portal; the
   referent links a teacher to 4C; the teacher taps "Couper Internet" through
   the API ``--taps`` times. After each tap every phone asks the filter for
   ``cours.test`` and tries the internet host until it is refused; then
   "Rétablir", and the next tap waits until every phone resolves and connects
   again. ``tap_to_dns``: from the POST until the last phone got a parsed
   answer without the site's address; ``tap_to_gate``: until the last phone
   could no longer connect. p95 over the taps. The figure only counts answers
   it checked: a tap that does not answer 201, a phone that was not online
   before the tap, or one never cut, fails the run.
2. The sync: a slapd holding 3,000 pupils and limited to 500 entries a search
   (``olcSizeLimit``); ``preau directory sync`` stores everyone, and must
   find them all. The peer is ``ldapsearch`` with the paged-results control
   reading the same entries as the directory's root (no limit applies to it:
   the raw read, nothing checked or stored); its count is checked too.

Ends with ``RESULT tap_to_dns_p95_ms=… tap_to_gate_p95_ms=… devices=35
sync_3000_s=… ldapsearch_3000_s=…``. Targets: both p95 ≤ 2,000 ms, sync ≤ 30 s.
Run as root from the repository: ``.venv/bin/python bench/class_controls.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._peers import ensure_debian_packages, result_line
from bench.portal import IP, p95, run

PORTAL_PORT, WEB_PORT = 8082, 8083
ADMIN = "10.79.0.1"

# Runs in the phones' namespace: log every phone in, then tap, watch, restore.
_ORCHESTRA = r"""
import asyncio, json, re, socket, sys, time, urllib.parse
import aiohttp
from dnslib import DNSRecord, QTYPE
count, taps, portal_port, web = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pupils, referent, teacher = (json.loads(a) for a in sys.argv[5:8])
PORTAL, DNS, WAN = ("10.77.0.1", portal_port), ("10.77.0.1", 53), ("10.78.0.2", 8080)

def source(i):
    return f"m{i}", f"10.77.1.{i}"

async def connected(i, address, timeout=0.3):
    dev, ip = source(i)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
    sock.bind((ip, 0))
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, address), timeout)
        return sock
    except (OSError, asyncio.TimeoutError):
        sock.close()
        return None

async def reaches_internet(i):
    sock = await connected(i, WAN)
    if sock is None:
        return False
    sock.close()
    return True

async def resolves(i):
    # True: the site's address; False: a parsed answer without it; None: no answer.
    dev, ip = source(i)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
    sock.bind((ip, 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    query = DNSRecord.question("cours.test")
    try:
        await loop.sock_sendto(sock, query.pack(), DNS)
        data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.5)
    except (OSError, asyncio.TimeoutError):
        return None
    finally:
        sock.close()
    answer = DNSRecord.parse(data)
    if answer.header.id != query.header.id:
        return None
    return any(r.rtype == QTYPE.A and str(r.rdata) == WAN[0] for r in answer.rr)

async def portal_login(i, uid, password):
    dev, ip = source(i)
    async def http(method, path, body=b""):
        sock = await connected(i, PORTAL, 5)
        reader, writer = await asyncio.open_connection(sock=sock)
        head = (f"{method} {path} HTTP/1.1\r\nHost: 10.77.0.1:{portal_port}\r\n"
                "Connection: close\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        writer.write(head.encode() + body)
        await writer.drain()
        data = await reader.read()
        writer.close()
        return int(data.split(b" ", 2)[1]), data
    _, page = await http("GET", "/login")
    token = re.search(rb'name="form_token" value="([^"]+)"', page).group(1).decode()
    charter = re.search(rb'name="charter_version" value="([^"]+)"', page).group(1).decode()
    body = urllib.parse.urlencode({"form_token": token, "login": uid, "password": password,
                                   "charter": "accepted", "charter_version": charter}).encode()
    status, _ = await http("POST", "/login", body)
    return status

async def api_session(login, password):
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    credentials = {"login": login, "password": password}
    async with session.post(f"{web}/api/v1/session", json=credentials) as r:
        assert r.status == 200, await r.text()
        token = (await r.json())["csrf_token"]
    return session, {"X-CSRF-Token": token}

async def until_all(check, wanted, deadline=30.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        states = await asyncio.gather(*(check(i) for i in range(1, count + 1)))
        if all(state is wanted for state in states):
            return True
        await asyncio.sleep(0.05)
    return False

async def watch(i, t0):
    dns = gate = None
    while dns is None or gate is None:
        if dns is None and await resolves(i) is False:
            dns = time.perf_counter()
        if gate is None and not await reaches_internet(i):
            gate = time.perf_counter()
        if time.perf_counter() - t0 > 30:
            raise SystemExit(f"phone {i} still not cut after 30 s (dns={dns}, gate={gate})")
        await asyncio.sleep(0.005)
    return dns - t0, gate - t0

async def main():
    statuses = await asyncio.gather(*(portal_login(i, *pupils[i - 1]) for i in range(1, count + 1)))
    if set(statuses) != {302}:
        raise SystemExit(f"portal logins answered {sorted(set(statuses))}")
    admin, admin_headers = await api_session(*referent)
    async with admin.put(f"{web}/api/v1/people/{teacher[0]}/classes",
                         json={"classes": ["4C"]}, headers=admin_headers) as r:
        assert r.status == 200, await r.text()
    await admin.close()
    session, headers = await api_session(*teacher)
    dns_ms, gate_ms = [], []
    for _ in range(taps):
        if not (await until_all(resolves, True) and await until_all(reaches_internet, True)):
            raise SystemExit("the phones are not all online before the tap")
        t0 = time.perf_counter()
        async with session.post(f"{web}/api/v1/filter/overrides", headers=headers,
                                json={"target_kind": "class", "target": "4C",
                                      "action": "block_all"}) as r:
            if r.status != 201:
                raise SystemExit(f"the tap answered {r.status}: {await r.text()}")
            override = (await r.json())["id"]
        cut = await asyncio.gather(*(watch(i, t0) for i in range(1, count + 1)))
        dns_ms.append(max(d for d, _ in cut) * 1000)
        gate_ms.append(max(g for _, g in cut) * 1000)
        async with session.delete(f"{web}/api/v1/filter/overrides/{override}",
                                  headers=headers) as r:
            assert r.status == 200, await r.text()
    await session.close()
    print(json.dumps({"dns_ms": dns_ms, "gate_ms": gate_ms}))

asyncio.run(main())
"""


def _lab(tag: str, count: int) -> tuple[str, str, str]:
    """Create the namespaces, links and phones; return (phones, appliance, internet)."""
    phones, appliance, wan = f"cp{tag}", f"ca{tag}", f"cw{tag}"
    for ns in (phones, appliance, wan):
        run(IP, "netns", "add", ns)
        run(IP, "link", "set", "lo", "up", ns=ns)
    links = (
        ("cv", phones, f"byod{tag}", appliance),
        (f"wan{tag}", appliance, "wv", wan),
        ("adm", phones, f"adm{tag}", appliance),
    )
    for left, left_ns, right, right_ns in links:
        run(IP, "link", "add", left, "netns", left_ns, "type", "veth", "peer", "name", right,
            "netns", right_ns)  # fmt: skip
    for ns, link, address in (
        (appliance, f"byod{tag}", "10.77.0.1/16"),
        (appliance, f"wan{tag}", "10.78.0.1/24"),
        (wan, "wv", "10.78.0.2/24"),
        (appliance, f"adm{tag}", f"{ADMIN}/24"),
        (phones, "adm", "10.79.0.2/24"),
    ):
        run(IP, "addr", "add", address, "dev", link, ns=ns)
        run(IP, "link", "set", link, "up", ns=ns)
    run(IP, "link", "set", "cv", "up", ns=phones)
    run(IP, "route", "add", "default", "via", "10.78.0.1", ns=wan)
    run("/usr/sbin/sysctl", "-qw", "net.ipv4.ip_forward=1", ns=appliance)
    for key in ("arp_ignore=1", "arp_announce=2", "rp_filter=0"):
        run("/usr/sbin/sysctl", "-qw", f"net.ipv4.conf.all.{key}", ns=phones)
    return phones, appliance, wan


def tap_part(count: int, taps: int, folder: Path) -> dict[str, list[float]]:
    """Measure tap-to-cut for ``count`` phones of one class, ``taps`` times."""
    from tests.conftest import (
        ldap_section,
        make_config,
        make_school_ca,
        school_ldif,
        start_slapd,
        unbound_config_text,
        write_config,
    )

    tag = secrets.token_hex(2)
    phones, appliance, wan = _lab(tag, count)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        script = "".join(
            f"link add link cv name m{i} type macvlan mode bridge\n"
            f"addr add 10.77.1.{i}/16 dev m{i}\nlink set m{i} up\n"
            for i in range(1, count + 1)
        )
        (folder / "phones.ip").write_text(script)
        run(IP, "-batch", str(folder / "phones.ip"), ns=phones)
        for i in range(1, count + 1):
            run(IP, "route", "add", "10.78.0.0/24", "via", "10.77.0.1", "dev", f"m{i}",
                "metric", str(i), ns=phones)  # fmt: skip
        (folder / "unbound").mkdir()
        (folder / "unbound" / "unbound.conf").write_text(
            unbound_config_text(
                folder / "unbound",
                interface="10.78.0.2",
                port=53,
                allow="10.78.0.0/24",
                zones=["cours.test."],
                data=["cours.test. 60 IN A 10.78.0.2"],
            )
        )
        listener = (
            "import socket\ns = socket.create_server(('10.78.0.2', 8080), backlog=4096)\n"
            "while True:\n    s.accept()[0].close()\n"
        )
        processes.append(subprocess.Popen([IP, "netns", "exec", wan, sys.executable, "-c",
                                           listener]))  # fmt: skip
        processes.append(
            subprocess.Popen(
                [
                    IP,
                    "netns",
                    "exec",
                    wan,
                    "/usr/sbin/unbound",
                    "-d",
                    "-c",
                    str(folder / "unbound" / "unbound.conf"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
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
                "enabled": True, "byod_interface": f"byod{tag}", "wan_interface": f"wan{tag}",
                "address": "10.77.0.1", "http_port": PORTAL_PORT, "dhcp": False,
                "logins_per_minute": 600, "roles": {"pupil": {"ends_with_school_day": False}},
            },
            filter={
                "enabled": True, "listen": ["10.77.0.1:53"], "upstreams": ["10.78.0.2:53"],
            },
            web={"host": ADMIN, "port": WEB_PORT},
        )  # fmt: skip
        path = write_config(config, folder / "preau.toml")
        preau = str(Path(sys.executable).with_name("preau"))
        # The directory first: the classes (4C) and the teacher exist before the tap.
        run(preau, "--config", str(path), "directory", "sync", ns=appliance)
        log = (folder / "preau.log").open("wb")
        processes.append(
            subprocess.Popen(
                [
                    IP,
                    "netns",
                    "exec",
                    appliance,
                    preau,
                    "--config",
                    str(path),
                    "run",
                    "portal",
                    "filter",
                    "web",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        probe = (
            "import socket\n"
            f"for port in ({PORTAL_PORT}, {WEB_PORT}):\n"
            "    socket.create_connection(('10.77.0.1' if port != "
            f"{WEB_PORT} else '{ADMIN}', port), 0.5).close()\n"
        )
        for _ in range(300):
            if run(sys.executable, "-c", probe, ns=appliance, check=False).returncode == 0:
                break
            time.sleep(0.1)
        pupils = [(a.uid, a.password) for a in accounts.values() if a.uid.startswith("eleve")][
            :count
        ]
        referent = next(a for a in accounts.values() if a.role == "referent")
        teacher = next(a for a in accounts.values() if a.role == "teacher")
        done = run(
            sys.executable, "-c", _ORCHESTRA, str(count), str(taps), str(PORTAL_PORT),
            f"http://{ADMIN}:{WEB_PORT}", json.dumps(pupils),
            json.dumps([referent.uid, referent.password]),
            json.dumps([teacher.uid, teacher.password]),
            ns=phones, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            tail = (folder / "preau.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}\n--- preau ---\n{tail}")
        figures: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
        return figures
    finally:
        for process in processes:
            process.terminate()
        for ns in (phones, appliance, wan):
            for pid in run(IP, "netns", "pids", ns, check=False).stdout.split():
                run("/usr/bin/kill", "-9", pid, check=False)
            run(IP, "netns", "del", ns, check=False)


def sync_part(entries: int, folder: Path) -> dict[str, float]:
    """Time ``preau directory sync`` and ``ldapsearch`` over ``entries`` pupils (limit 500)."""
    from tests.conftest import (
        BASE_DN,
        ldap_section,
        make_config,
        make_school_ca,
        school_ldif,
        start_slapd,
        write_config,
    )

    (folder / "ca").mkdir()
    ca = make_school_ca(folder / "ca")
    data, accounts = school_ldif(extra_pupils=entries)
    (folder / "slapd").mkdir()
    server = start_slapd(folder / "slapd", ca, data, accounts, size_limit=500)
    try:
        config = make_config(
            folder / "data", identity={"ldap": ldap_section(server, ca.ca_cert, folder)}
        )
        path = write_config(config, folder / "preau.toml")
        preau = str(Path(sys.executable).with_name("preau"))
        began = time.perf_counter()
        synced = run(preau, "--config", str(path), "directory", "sync", check=False)
        sync_s = time.perf_counter() - began
        if synced.returncode != 0:
            raise SystemExit(f"preau directory sync failed: {synced.stderr[-2000:]}")
        people = int(synced.stdout.split()[0])
        if people != len(accounts):
            raise SystemExit(
                f"the sync stored {people} people, the directory holds {len(accounts)}"
            )
        env = {**os.environ, "LDAPTLS_CACERT": str(ca.ca_cert)}
        began = time.perf_counter()
        found = subprocess.run(
            ["/usr/bin/ldapsearch", "-x", "-ZZ", "-H", server.uri, "-D", f"cn=admin,{BASE_DN}",
             "-w", "root-secret", "-b", BASE_DN, "-E", "pr=500/noprompt", "-LLL",
             "(objectClass=inetOrgPerson)", "uid", "displayName", "departmentNumber"],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        ldapsearch_s = time.perf_counter() - began
        read = found.stdout.count("\ndn: ") + found.stdout.startswith("dn: ")
        if read != len(accounts):
            raise SystemExit(f"ldapsearch read {read} entries, the directory holds {len(accounts)}")
        return {"sync_s": sync_s, "ldapsearch_s": ldapsearch_s, "people": float(people)}
    finally:
        server.stop()


def main() -> None:
    """Run both parts and print the RESULT line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=35)
    parser.add_argument("--taps", type=int, default=50)
    parser.add_argument("--entries", type=int, default=3000)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (network namespaces, nftables)")
    ensure_debian_packages("nftables", "libnftables1", "slapd", "ldap-utils", "iproute2", "unbound")
    with tempfile.TemporaryDirectory(prefix="preau-bench-sync-") as folder:
        sync = sync_part(args.entries, Path(folder))
    with tempfile.TemporaryDirectory(prefix="preau-bench-class-") as folder:
        taps = tap_part(args.devices, args.taps, Path(folder))
    print(f"sync: {sync['people']:.0f} people in {sync['sync_s']:.2f} s "
          f"(ldapsearch {sync['ldapsearch_s']:.2f} s)")  # fmt: skip
    dns, gate = sorted(taps["dns_ms"]), sorted(taps["gate_ms"])
    print(f"tap to DNS: median {dns[len(dns) // 2]:.0f} ms; to gate: {gate[len(gate) // 2]:.0f} ms")
    print(
        result_line(
            tap_to_dns_p95_ms=p95(taps["dns_ms"]),
            tap_to_gate_p95_ms=p95(taps["gate_ms"]),
            devices=args.devices,
            sync_3000_s=sync["sync_s"],
            ldapsearch_3000_s=sync["ldapsearch_s"],
        )
    )


if __name__ == "__main__":
    main()

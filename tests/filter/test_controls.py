"""Rate limits, teachers' timed overrides, list swaps, explain (#9.2, #9.6)."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from dnslib import DNSRecord

from appliance.config import PreauConfig
from appliance.network_clients import CLIENTS_TOPIC
from filter import state as filtering
from tests.conftest import SCHOOL_UAI, PreauProcess, opened_core, run_preau, wait_for_port
from tests.filter.conftest import dig, dns_port

pytestmark = pytest.mark.timeout(90)


def ask(config: PreauConfig, name: str, source: str, timeout: float = 2.0) -> DNSRecord | None:
    """Send one UDP query from ``source``; return the answer or None on timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        query = DNSRecord.question(name)
        sock.sendto(query.pack(), ("127.0.0.1", dns_port(config)))
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return None
    return DNSRecord.parse(data)


def status(answer: DNSRecord | None) -> str:
    if answer is None:
        return "timeout"
    return {0: "NOERROR", 3: "NXDOMAIN", 5: "REFUSED"}.get(answer.header.rcode, "other")


def test_client_over_rate_limit_is_slowed_while_another_is_not(
    running_filter: PreauProcess, filter_config: PreauConfig
) -> None:
    # Limit 200 qps with a burst of 200: the flooder sends 1,000 in about a second.
    port = dns_port(filter_config)
    flooder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flooder.bind(("127.0.0.5", 0))
    flooder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    packet = DNSRecord.question("www.example.test").pack()
    started = time.monotonic()
    for index in range(1000):
        flooder.sendto(packet, ("127.0.0.1", port))
        pause = started + index / 1000 - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    answered = truncated = 0
    flooder.settimeout(0.5)
    while True:
        try:
            data, _ = flooder.recvfrom(65535)
        except TimeoutError:
            break
        record = DNSRecord.parse(data)
        if record.header.tc:
            truncated += 1
        else:
            answered += 1
    flooder.close()
    elapsed = time.monotonic() - started
    assert answered <= 200 + 200 * elapsed + 20
    assert truncated >= 100  # slip: every 2nd limited query gets TC=1
    assert answered + truncated < 1000
    neighbour = [status(ask(filter_config, "www.example.test", "127.0.0.6")) for _ in range(20)]
    assert neighbour == ["NOERROR"] * 20


def _identify(config: PreauConfig, address: str, class_name: str) -> None:
    async def body() -> None:
        async with opened_core(config) as core:
            async with core.db.write() as tx:
                await tx.execute(
                    "INSERT OR REPLACE INTO network_clients"
                    " (address, person_id, role, class_name, level, expires_at)"
                    " VALUES (?, ?, 'pupil', ?, '6EME', ?)",
                    (address, f"pupil-{address}", class_name, time.time() + 3600),
                )
                # The class is the directory's (a control names a class the school has).
                await tx.execute(
                    "INSERT OR IGNORE INTO groups (id, name, kind, school_uai, source)"
                    " VALUES (?, ?, 'class', ?, 'local')",
                    (f"class:{SCHOOL_UAI}:{class_name}", class_name, SCHOOL_UAI),
                )
                await tx.notify(CLIENTS_TOPIC)

    asyncio.run(body())


def _override(config: PreauConfig, seconds: int) -> int:
    async def body() -> int:
        async with opened_core(config) as core:
            row = await filtering.add_override(
                core,
                target_kind="class",
                target="6A",
                action="block_all",
                seconds=seconds,
                actor="prof.durand",
                source="test",
            )
            return row.id

    return asyncio.run(body())


def test_block_all_on_a_class_applies_within_a_second_expires_and_survives_restart(
    running_filter: PreauProcess,
    filter_config: PreauConfig,
    preau_factory: Callable[..., PreauProcess],
) -> None:
    _identify(filter_config, "127.0.0.30", "6A")
    _identify(filter_config, "127.0.0.31", "5B")
    time.sleep(0.6)
    assert status(ask(filter_config, "www.example.test", "127.0.0.30")) == "NOERROR"
    _override(filter_config, seconds=6)
    started = time.monotonic()
    while status(ask(filter_config, "www.example.test", "127.0.0.30")) != "NXDOMAIN":
        assert time.monotonic() - started < 1.0, "override not in force within 1 s"
        time.sleep(0.05)
    # Only the class is cut off.
    assert status(ask(filter_config, "www.example.test", "127.0.0.31")) == "NOERROR"
    # A restart keeps it.
    running_filter.stop()
    restarted = preau_factory(filter_config, "filter", wait_web=False, name="filter-again")
    wait_for_port("127.0.0.1", dns_port(filter_config))
    assert status(ask(filter_config, "www.example.test", "127.0.0.30")) == "NXDOMAIN"
    # And it ends by itself.
    deadline = time.monotonic() + 10
    while status(ask(filter_config, "www.example.test", "127.0.0.30")) != "NOERROR":
        assert time.monotonic() < deadline, "override did not expire"
        time.sleep(0.1)
    restarted.stop()


def test_cli_override_and_explain(running_filter: PreauProcess, filter_config: PreauConfig) -> None:
    path = running_filter.config_path
    added = run_preau(
        "filter",
        "override",
        "add",
        "--clients",
        "127.0.0.40/32",
        "--action",
        "allowlist_only",
        "--allowlist",
        "examen",
        "--minutes",
        "50",
        "--reason",
        "contrôle",
        config_path=path,
    )
    assert added.returncode == 0, added.stderr
    explained = run_preau(
        "filter", "explain", "cdn.porn-site.test", "--group", "college", config_path=path
    )
    assert explained.returncode == 0, explained.stderr
    assert "BLOQUÉ" in explained.stdout
    assert re.search(r"^catégorie +: adult$", explained.stdout, re.M)
    assert re.search(r"^règle +: category:college$", explained.stdout, re.M)
    assert re.search(r"^liste +: ut1$", explained.stdout, re.M)
    assert re.search(r"^entrée +: porn-site.test$", explained.stdout, re.M)
    in_english = run_preau(
        "filter", "explain", "cdn.porn-site.test", "--group", "college",
        config_path=path, env={"LANG": "en_GB.UTF-8"},
    )  # fmt: skip
    assert re.search(r"^decision +: BLOCKED \(", in_english.stdout, re.M), in_english.stdout
    assert re.search(r"^rule +: category:college$", in_english.stdout, re.M)
    exam = run_preau(
        "filter", "explain", "www.example.test", "--client", "127.0.0.40", config_path=path
    )
    assert "override" in exam.stdout
    assert "allowlist_only" in exam.stdout
    time.sleep(0.6)
    assert "NXDOMAIN" in dig(filter_config, "www.example.test", source="127.0.0.40")
    listed = run_preau("filter", "override", "list", config_path=path)
    override_id = listed.stdout.split()[0].lstrip("#")
    ended = run_preau("filter", "override", "end", override_id, config_path=path)
    assert ended.returncode == 0
    bad = run_preau(
        "filter",
        "override",
        "add",
        "--class",
        "6A",
        "--action",
        "block_domains",
        "--minutes",
        "5",
        config_path=path,
    )
    assert bad.returncode == 2
    assert "domains" in bad.stderr


def test_list_swap_under_continuous_queries_loses_none(
    running_filter: PreauProcess, filter_config: PreauConfig, tmp_path: Path
) -> None:
    results: list[str] = []
    stop = threading.Event()

    def query_loop() -> None:
        names = ["www.example.test", "casino.test", "cdn.porn-site.test", "new-bad.test"]
        index = 0
        while not stop.is_set():
            results.append(status(ask(filter_config, names[index % 4], "127.0.0.50", 1.0)))
            index += 1
            time.sleep(0.006)  # stay under the 200 qps per-client limit

    worker = threading.Thread(target=query_loop)
    worker.start()
    try:
        blocklist = tmp_path / "extra.txt"
        blocklist.write_text("new-bad.test\n")
        for _ in range(3):
            swapped = run_preau(
                "filter",
                "import-list",
                "extra",
                str(blocklist),
                "--category",
                "adult",
                config_path=running_filter.config_path,
            )
            assert swapped.returncode == 0, swapped.stderr
            time.sleep(0.3)
        tree_again = run_preau(
            "filter", "import-ut1", str(tmp_path / "ut1"), config_path=running_filter.config_path
        )
        assert tree_again.returncode == 0
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join()
    assert len(results) > 100
    assert "timeout" not in results
    assert "other" not in results
    assert status(ask(filter_config, "new-bad.test", "127.0.0.50")) == "NXDOMAIN"

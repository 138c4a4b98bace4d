"""Fixtures for filter tests: a real unbound serving local zones, a UT1-shaped
tree, and `preau run filter` in front of them. Every address is loopback."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appliance.config import PreauConfig
from filter.config import FilterConfig
from tests.conftest import (
    PreauProcess,
    free_port,
    make_config,
    run_preau,
    unbound_config_text,
    wait_for_port,
    write_config,
)

# Local zones unbound answers for; everything else is NXDOMAIN ("." static),
# so unbound never recurses to the internet.
LOCAL_DATA = [
    "www.example.test. 300 IN A 192.0.2.10",
    "www.example.test. 300 IN AAAA 2001:db8::10",
    "ok.allowed.test. 300 IN A 192.0.2.11",
    "cdn.porn-site.test. 300 IN A 192.0.2.66",
    "www.porn-site.test. 300 IN A 192.0.2.66",
    "homework.porn-site.test. 300 IN A 192.0.2.67",
    "casino.test. 300 IN A 192.0.2.68",
    "www.google.fr. 300 IN A 192.0.2.20",
    "www.google.com. 300 IN A 192.0.2.20",
    "www.bing.com. 300 IN A 192.0.2.21",
    "www.youtube.com. 300 IN A 192.0.2.22",
    "duckduckgo.com. 300 IN A 192.0.2.23",
    "forcesafesearch.google.com. 300 IN A 216.239.38.120",
    "forcesafesearch.google.com. 300 IN AAAA 2001:4860:4802:32::78",
    "strict.bing.com. 300 IN A 204.79.197.220",
    "restrictmoderate.youtube.com. 300 IN A 216.239.38.119",
    "restrict.youtube.com. 300 IN A 216.239.38.120",
    "safe.duckduckgo.com. 300 IN A 52.142.124.215",
    "use-application-dns.net. 300 IN A 192.0.2.99",
    "mask.icloud.com. 300 IN A 192.0.2.98",
]
BIG_NAME = "big.example.test"


def unbound_config(folder: Path, port: int) -> str:
    """Return an unbound.conf answering only the local data above."""
    zones = sorted({line.split()[0] for line in LOCAL_DATA} | {f"{BIG_NAME}."})
    text = unbound_config_text(folder, port=port, zones=zones, data=LOCAL_DATA)
    # About 1,700 bytes of TXT: more than fits in 1232-byte UDP.
    big = "".join(
        f"  local-data: '{BIG_NAME}. 300 IN TXT \"{index}{'x' * 199}\"'\n" for index in range(8)
    )
    return text.replace("remote-control:", big + "remote-control:", 1)


@dataclass
class Unbound:
    """A running unbound on loopback."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def endpoint(self) -> str:
        """Return ADDRESS:PORT."""
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def unbound(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Unbound]:
    """Start unbound serving the local zones."""
    folder = tmp_path_factory.mktemp("unbound")
    port = free_port()
    conf = folder / "unbound.conf"
    conf.write_text(unbound_config(folder, port))
    check = subprocess.run(
        ["/usr/sbin/unbound-checkconf", str(conf)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    process = subprocess.Popen(
        ["/usr/sbin/unbound", "-d", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port("127.0.0.1", port)
    yield Unbound(port, process)
    process.terminate()
    process.wait(10)


def write_ut1_tree(root: Path) -> Path:
    """Write a small UT1-shaped tree (categories with domains, urls, expressions)."""
    tree = root / "blacklists"
    entries = {
        "adult": ["porn-site.test", "other-adult.test", "192.0.2.200"],
        "gambling": ["casino.test"],
        "malware": ["evil.test"],
        "social_networks": ["social.test"],
    }
    for category, domains in entries.items():
        folder = tree / category
        folder.mkdir(parents=True)
        (folder / "domains").write_text("\n".join(domains) + "\n")
        (folder / "urls").write_text("porn-site.test/some/page\n")
    (tree / "adult" / "expressions").write_text("(porn|xxx)\n")
    return tree


@pytest.fixture
def filter_config(tmp_path: Path, unbound: Unbound) -> PreauConfig:
    """A config whose filter forwards to the test unbound, with test groups."""
    return make_config(
        tmp_path / "data",
        filter={
            "upstreams": [unbound.endpoint],
            "allow": [],
            "groups": default_test_groups(),
            "static_clients": [
                {"address": "127.0.0.2", "group": "teachers"},
                {"address": "127.0.0.3", "group": "staff"},
            ],
            "networks": [{"cidr": "127.0.0.0/8", "group": "college"}],
            "client_networks": ["127.0.0.0/25"],
            "rate_limit_qps": 200,
            "rate_limit_burst": 200,
        },
    )


def default_test_groups() -> list[dict[str, Any]]:
    """The default groups, with an allowlisted subdomain for pupils."""
    from filter.config import FilterConfig

    groups = [group.model_dump() for group in FilterConfig().groups]
    for group in groups:
        if group["name"] == "college":
            group["allow"] = ["homework.porn-site.test"]
    return groups


@pytest.fixture
def running_filter(
    tmp_path: Path, filter_config: PreauConfig, preau_factory: Callable[..., PreauProcess]
) -> PreauProcess:
    """Import the UT1 tree, then run `preau run filter`."""
    path = write_config(filter_config, tmp_path / "preau.toml")
    tree = write_ut1_tree(tmp_path / "ut1")
    result = run_preau("filter", "import-ut1", str(tree), config_path=path)
    assert result.returncode == 0, result.stderr
    running = preau_factory(filter_config, "filter", wait_web=False, name="filter")
    host, port = filter_config.filter.listen[0].rsplit(":", 1)
    wait_for_port(host, int(port))
    return running


def dns_port(config: PreauConfig) -> int:
    """Return the filter's port."""
    return int(config.section(FilterConfig).listen[0].rsplit(":", 1)[1])


def dig(
    config: PreauConfig, name: str, qtype: str = "A", *args: str, source: str = "127.0.0.1"
) -> str:
    """Query the filter with dig and return its output."""
    result = subprocess.run(
        [
            shutil.which("dig") or "/usr/bin/dig",
            "@127.0.0.1",
            "-p",
            str(dns_port(config)),
            "-b",
            source,
            name,
            qtype,
            "+tries=1",
            "+time=3",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return result.stdout + result.stderr

"""The referent's "does it work?" check asks what a device would (issue #6 scope 1)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cache.config import CacheConfig
from cache.selftest import run_checks
from tests.conftest import free_port, make_config, wait_for_port


def test_the_check_sees_the_cache_steering_and_the_pass_through(
    tmp_path: Path, preau_factory: Callable[..., Any]
) -> None:
    cache_port, tls_port, dns_port = free_port(), free_port(), free_port()
    config = make_config(
        tmp_path / "data",
        cache={
            "enabled": True,
            "listen": [f"127.0.0.1:{cache_port}"],
            "tls_passthrough": [f"127.0.0.1:{tls_port}"],
        },
        filter={
            "listen": [f"127.0.0.1:{dns_port}"],
            "cache_steering": {"enabled": True, "ipv4": "10.0.0.1"},
        },
    )
    running = preau_factory(config, "cache", "filter", wait_web=False)
    wait_for_port("127.0.0.1", cache_port, timeout=20)
    wait_for_port("127.0.0.1", tls_port, timeout=20)
    checks = run_checks(config)
    assert [(c.what, c.ok) for c in checks] == [
        (f"cache 127.0.0.1:{cache_port}", True),
        ("download.windowsupdate.com A", True),
        ("download.windowsupdate.com AAAA", True),
        (f"HTTPS 127.0.0.1:{tls_port}", True),
    ], running.output()
    # A steering address that is not the one the filter answers: said.
    wrong = make_config(
        tmp_path / "data",
        cache=config.section(CacheConfig).model_dump(mode="json"),
        filter={
            "listen": [f"127.0.0.1:{dns_port}"],
            "cache_steering": {"enabled": True, "ipv4": "10.0.0.2"},
        },
    )
    failed = {c.what: c for c in run_checks(wrong)}
    assert not failed["download.windowsupdate.com A"].ok
    assert failed["download.windowsupdate.com A"].seen == "10.0.0.1"
    # Everything stopped: each check says so.
    running.stop()
    down = {c.what: c.ok for c in run_checks(config)}
    assert down == {
        f"cache 127.0.0.1:{cache_port}": False,
        f"DNS 127.0.0.1:{dns_port}": False,
        f"HTTPS 127.0.0.1:{tls_port}": False,
    }

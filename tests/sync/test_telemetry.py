"""The site's figures reach a stock Prometheus both ways, and never a pupil (CARMO ch. 20).

A real Prometheus (Debian's) scrapes the box's OpenMetrics endpoint with a
bearer token and receives its remote_write; a real `preau run` box sends.
"""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from sync.report import Figure, Host, LinkFigures, ServiceState, SiteReport
from sync.telemetry import openmetrics, read_remote_write, remote_write_body
from tests.conftest import SCHOOL_UAI, PreauProcess, make_config, run_preau, write_config
from tests.sync.conftest import Centre, Prometheus

pytestmark = pytest.mark.timeout(240)

SCRAPE_TOKEN = "jeton-de-collecte-de-la-collectivite"


def report(at: float, devices: float | None = 12) -> SiteReport:
    """Return a small site report generated at ``at``."""
    return SiteReport(
        key="",
        uai=SCHOOL_UAI,
        generated_at=at,
        version="0.1.0",
        host=Host(disk_used_percent=10, memory_used_percent=20, uptime_seconds=30),
        services=[
            ServiceState(name="filter", status="ok"),
            ServiceState(name="web", status="down"),
        ],
        link=LinkFigures(
            policy_version=3, policy_stale=False, spool_bytes=0, spool_dropped_total=0
        ),
        figures=[
            Figure(name="preau_portal_devices", value=devices),
            Figure(name="preau_filter_blocked_total", labels={"group": "college"}, value=7),
        ],
    )


def test_remote_write_carries_each_report_s_figures_at_its_own_time() -> None:
    body = remote_write_body([report(1000.0), report(1900.0, devices=None)])
    series = {tuple(sorted(labels.items())): points for labels, points in read_remote_write(body)}
    devices = series[(("__name__", "preau_portal_devices"), ("site", SCHOOL_UAI))]
    # A suppressed count is not sent at all (not as zero).
    assert devices == [(12.0, 1_000_000)]
    up = series[(("__name__", "preau_service_up"), ("service", "web"), ("site", SCHOOL_UAI))]
    assert up == [(0.0, 1_000_000), (0.0, 1_900_000)]
    # The same reports again give the same bytes: a receiver keeps them once.
    assert remote_write_body([report(1000.0), report(1900.0, devices=None)]) == body


def test_openmetrics_is_a_valid_exposition() -> None:
    text = openmetrics(report(1000.0)).decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    blocked = families["preau_filter_blocked"].samples[0]
    assert blocked.labels == {"group": "college", "site": SCHOOL_UAI}
    assert blocked.value == 7


def test_a_box_feeds_a_stock_prometheus_by_scrape_and_by_remote_write(
    tmp_path: Path,
    centre: Centre,
    preau_factory: Callable[..., PreauProcess],
    prometheus_factory: Callable[..., Prometheus],
) -> None:
    config = make_config(
        tmp_path / "box",
        sync={
            "poll_minutes": 0.05,
            "report_minutes": 0.05,
            "telemetry": {
                "scrape_bearer_sha256": hashlib.sha256(SCRAPE_TOKEN.encode()).hexdigest()
            },
        },
    )
    target = f"127.0.0.1:{config.web.port}"
    prometheus = prometheus_factory([(target, SCRAPE_TOKEN)])
    config_path = write_config(config, tmp_path / "box.toml")
    assert (
        run_preau("sync", "enrol", centre.token(SCHOOL_UAI), config_path=config_path).returncode
        == 0
    )
    # The centre steers where the figures go: its receiver, by a bundle.
    centre.publish(
        f'[settings]\n"sync.telemetry.remote_write_url" = {{ value = "{prometheus.write_url}",'
        " locked = true }\n"
    )
    box = preau_factory(config, name="box")
    deadline = time.monotonic() + 90
    while True:
        # Pushed series carry no job label; scraped ones do.
        pushed = prometheus.query(f'preau_host_uptime_seconds{{site="{SCHOOL_UAI}",job=""}}')
        scraped = prometheus.query('up{job="box0"}')
        if pushed and scraped and scraped[0]["value"][1] == "1":
            break
        assert time.monotonic() < deadline, box.output()
        time.sleep(1)
    assert float(pushed[0]["value"][1]) > 0
    scraped_up = prometheus.query(f'preau_service_up{{job="box0",site="{SCHOOL_UAI}"}}')
    assert {s["metric"]["service"] for s in scraped_up} >= {"filter", "sync", "web"}
    # Without the token, or with another one, nothing.
    for header in ({}, {"Authorization": "Bearer autre-jeton"}):
        request = urllib.request.Request(f"http://{target}/api/v1/sync/openmetrics", headers=header)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        refused.value.close()

"""/metrics: Prometheus text that promtool accepts."""

from __future__ import annotations

import subprocess
from typing import Any

from aiohttp.test_utils import TestClient


async def test_metrics_pass_promtool_and_show_service_health(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    assert 'preau_service_up{service="web"}' in text
    assert "preau_host_memory_total_bytes" in text
    assert "preau_process_resident_memory_bytes" in text
    result = subprocess.run(  # noqa: ASYNC221 - short, after the request
        ["/usr/bin/promtool", "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr

"""Admin web throughput: Préau's rendered login page against nginx serving it static.

Préau (`preau run web`, one process) renders the login page from its Jinja2
template with the security middlewares; nginx serves the same bytes from a
file, the ceiling for any page on this box. wrk drives both from loopback for
the same time with the same connections; a Lua check inside wrk counts only
responses with status 200 and the page's exact length, and the rate is of
those alone (non-2xx and short answers are reported as ``wrong``).
Run: ``.venv/bin/python bench/admin_web.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.config import build_config
from appliance.config_render import render_config
from bench._peers import ensure_debian_packages, free_port, result_line, static_nginx, which

DURATION = "10s"
CONNECTIONS = "32"
THREADS = "2"
REPO = Path(__file__).resolve().parent.parent


def wait_http(url: str, timeout: float = 20.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# Every response is checked inside wrk: status 200 and the page's exact length
# (the CSRF token changes per response, never its length). Only those count.
_CHECK = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) expected = tonumber(args[1]); good = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 and #body == expected then good = good + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local g, b = 0, 0
  for _, t in ipairs(threads) do g = g + t:get("good"); b = b + t:get("bad") end
  io.write(string.format("VERIFIED %d %d %f\\n", g, b, summary.duration / 1e6))
end
"""


def wrk(url: str, expected_length: int, folder: Path) -> tuple[float, int, float, float]:
    """Return (verified responses/s, wrong responses, p50 ms, p99 ms)."""
    script = folder / "check.lua"
    script.write_text(_CHECK)
    out = subprocess.run(
        [which("wrk"), "-t", THREADS, "-c", CONNECTIONS, "-d", DURATION, "--latency",
         "-s", str(script), url, "--", str(expected_length)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout  # fmt: skip
    verified = re.search(r"VERIFIED (\d+) (\d+) ([\d.]+)", out)
    assert verified is not None, out
    good, bad, seconds = int(verified.group(1)), int(verified.group(2)), float(verified.group(3))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert bad >= (int(errors.group(1)) if errors else 0), out

    def latency(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        assert match is not None, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return good / seconds, bad, latency("50"), latency("99")


def main() -> None:
    ensure_debian_packages("wrk", "nginx-light")
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        port = free_port()
        config = build_config({"site": {"data_dir": str(folder / "data")}, "web": {"port": port}})
        config_path = folder / "preau.toml"
        config_path.write_text(render_config(config, "bench"))
        preau = subprocess.Popen(
            [
                str(REPO / ".venv/bin/preau"),
                "--config",
                str(config_path),
                "--log-level",
                "WARNING",
                "run",
                "web",
            ],
        )
        try:
            page = wait_http(f"http://127.0.0.1:{port}/login")
            rate, wrong, p50, p99 = wrk(f"http://127.0.0.1:{port}/login", len(page), folder)
            rss_mb = psutil.Process(preau.pid).memory_info().rss / 1e6
        finally:
            preau.terminate()
            preau.wait(10)

        root = folder / "www"
        root.mkdir()
        (root / "login").write_bytes(page)
        nginx, nginx_url = static_nginx(folder, root)
        try:
            wait_http(f"{nginx_url}/login")
            nginx_rate, nginx_wrong, _, nginx_p99 = wrk(f"{nginx_url}/login", len(page), folder)
        finally:
            nginx.terminate()
            nginx.wait(10)
    print(
        f"préau login page: {rate:.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, {rss_mb:.0f} MB"
    )
    print(f"nginx static    : {nginx_rate:.0f} req/s, p99 {nginx_p99:.2f} ms")
    print(
        result_line(
            login_rps=rate,
            wrong=wrong,
            nginx_rps=nginx_rate,
            nginx_wrong=nginx_wrong,
            ratio=rate / nginx_rate,
            p50_ms=p50,
            p99_ms=p99,
            nginx_p99_ms=nginx_p99,
            rss_mb=rss_mb,
        )
    )


if __name__ == "__main__":
    main()

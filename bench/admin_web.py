"""Admin web throughput: Préau's rendered login page against nginx serving it static.

Préau (`preau run web`, one process) renders the login page from its Jinja2
template with the security middlewares; nginx serves the same bytes from a
file, the ceiling for any page on this box. wrk drives both from loopback for
the same time with the same connections. Run: ``.venv/bin/python bench/admin_web.py``.
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

from appliance.config import PreauConfig, render_config
from bench._peers import ensure_debian_packages, free_port, result_line, which

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


def wrk(url: str) -> tuple[float, float, float]:
    """Return (requests/s, p50 ms, p99 ms)."""
    out = subprocess.run(
        [which("wrk"), "-t", THREADS, "-c", CONNECTIONS, "-d", DURATION, "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def latency(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        assert match is not None, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return rate, latency("50"), latency("99")


def main() -> None:
    ensure_debian_packages("wrk", "nginx-light")
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        port = free_port()
        config = PreauConfig.model_validate(
            {"site": {"data_dir": str(folder / "data")}, "web": {"port": port}}
        )
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
            rate, p50, p99 = wrk(f"http://127.0.0.1:{port}/login")
            rss_mb = psutil.Process(preau.pid).memory_info().rss / 1e6
        finally:
            preau.terminate()
            preau.wait(10)

        nginx_port = free_port()
        root = folder / "www"
        root.mkdir()
        (root / "login").write_bytes(page)
        (folder / "nginx.conf").write_text(
            f"""daemon off; worker_processes 1; pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; default_type text/html;
  client_body_temp_path {folder}; proxy_temp_path {folder}; fastcgi_temp_path {folder};
  uwsgi_temp_path {folder}; scgi_temp_path {folder};
  server {{ listen 127.0.0.1:{nginx_port}; root {root}; }} }}
"""
        )
        nginx = subprocess.Popen(
            [which("nginx"), "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log")]
        )
        try:
            wait_http(f"http://127.0.0.1:{nginx_port}/login")
            nginx_rate, _, nginx_p99 = wrk(f"http://127.0.0.1:{nginx_port}/login")
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
            nginx_rps=nginx_rate,
            ratio=rate / nginx_rate,
            p50_ms=p50,
            p99_ms=p99,
            nginx_p99_ms=nginx_p99,
            rss_mb=rss_mb,
        )
    )


if __name__ == "__main__":
    main()

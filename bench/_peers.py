"""What every benchmark shares: installing its peers, free ports, the RESULT line."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path


def ensure_debian_packages(*packages: str) -> None:
    """Install missing Debian packages (benchmarks bring their own peers)."""
    missing = [
        package
        for package in packages
        if subprocess.run(
            ["/usr/bin/dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.find("install ok installed")
        < 0
    ]
    if not missing:
        return
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["/usr/bin/apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        ["/usr/bin/apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )


def free_port() -> int:
    """Return a loopback TCP port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def which(name: str) -> str:
    """Return the path of a program, or fail clearly."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise SystemExit(f"{name} not found")
    return path


def result_line(**values: float | int | str) -> str:
    """Format the closing `RESULT key=value …` line."""
    parts = []
    for key, value in values.items():
        text = f"{value:.3f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        parts.append(f"{key}={text}")
    return "RESULT " + " ".join(parts)


def static_nginx(folder: Path, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start nginx serving ``root``'s files on a free loopback port; return it and its URL.

    The floor for a page on this machine: the same bytes, read from a file.
    """
    port = free_port()
    (folder / "nginx.conf").write_text(
        f"""daemon off; worker_processes 1; pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; default_type text/html;
  client_body_temp_path {folder}; proxy_temp_path {folder}; fastcgi_temp_path {folder};
  uwsgi_temp_path {folder}; scgi_temp_path {folder};
  server {{ listen 127.0.0.1:{port}; root {root}; }} }}
"""
    )
    nginx = subprocess.Popen(
        [which("nginx"), "-c", str(folder / "nginx.conf"), "-e", str(folder / "nginx-error.log")]
    )
    return nginx, f"http://127.0.0.1:{port}"

"""The centre as the tests run it: `preau-central` on a folder, behind a real nginx.

nginx serves the signed repository as static files and passes ``/intake/`` to
``preau-central serve`` (a real process), all on loopback.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

from appliance.config import PreauConfig
from sync.state import LinkState
from tests.conftest import REPO, PreauProcess, free_port, wait_for_port

CENTRAL: Final = REPO / ".venv" / "bin" / "preau-central"


def nginx_config(
    folder: Path, port: int, intake_port: int, central: Path, host: str = "127.0.0.1"
) -> str:
    """Return an nginx config serving the repository and passing the intake on."""
    temp = folder / "nginx-temp"
    temp.mkdir(parents=True, exist_ok=True)
    return f"""
user root;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  default_type application/octet-stream;
  server {{
    listen {host}:{port};
    location /repository/ {{ alias {central}/repository/; }}
    location /intake/ {{
      proxy_pass http://127.0.0.1:{intake_port};
      proxy_read_timeout 90s;
      proxy_buffering off;
      client_max_body_size 8m;
    }}
    location /intake/pra {{
      proxy_pass http://127.0.0.1:{intake_port};
      client_max_body_size 256m;
    }}
  }}
}}
"""


@dataclass
class Centre:
    """A central directory, its intake process and the nginx in front."""

    folder: Path
    port: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # The network namespace it runs in (None: this one) and nginx's address there.
    ns: str | None = None
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """Return nginx's base URL."""
        return f"http://{self.host}:{self.port}"

    def inside(self, argv: list[str]) -> list[str]:
        """Return ``argv`` run in the centre's namespace."""
        return ["/usr/sbin/ip", "netns", "exec", self.ns, *argv] if self.ns else argv

    @property
    def central(self) -> Path:
        """Return the central directory."""
        return self.folder / "central"

    def cli(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        """Run `preau-central --dir … ARGS` and return its output."""
        environment = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LANG")}
        environment.update(env or {})
        done = subprocess.run(
            [str(CENTRAL), "--dir", str(self.central), *args],
            capture_output=True, text=True, timeout=60, check=False, env=environment,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"preau-central {args}: {done.stdout}{done.stderr}")
        return done.stdout + done.stderr

    def publish(self, text: str, *scope: str) -> None:
        """Publish a bundle written as TOML (``--group NAME`` or ``--site UAI``, or all)."""
        bundle = self.folder / "bundle.toml"
        bundle.write_text(text)
        self.cli("publish", str(bundle), *scope)

    def token(self, uai: str, *args: str) -> str:
        """Mint an enrolment token."""
        return self.cli("token", uai, *args).strip()

    def cut(self) -> None:
        """Cut the WAN: nginx stops, so nothing of the centre answers."""
        nginx = self.processes.pop()
        nginx.terminate()
        nginx.wait(10)

    def restore(self) -> None:
        """Bring the WAN back (nginx again, same port)."""
        start_nginx(self)

    def stop(self) -> None:
        """Stop nginx and the intake."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_listening(centre: Centre, host: str, port: int, within: float = 15.0) -> None:
    """Wait until something accepts connections on host:port in the centre's namespace."""
    if centre.ns is None:
        wait_for_port(host, port, within)
        return
    deadline = time.monotonic() + within
    probe = centre.inside(["/usr/bin/bash", "-c", f"exec 3<>/dev/tcp/{host}/{port}"])
    while subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listening on {host}:{port} in {centre.ns}")
        time.sleep(0.1)


def start_centre(folder: Path, ns: str | None = None, host: str = "127.0.0.1") -> Centre:
    """Create a repository and run its intake behind nginx (in ``ns`` if given)."""
    folder.mkdir(parents=True, exist_ok=True)
    centre = Centre(folder, free_port(), ns=ns, host=host)
    intake_port = free_port()
    centre.cli("init", "--repository", f"{centre.url}/repository", "--intake", centre.url)
    with (folder / "intake.log").open("wb") as log:
        centre.processes.append(
            subprocess.Popen(
                centre.inside(
                    [
                        str(CENTRAL),
                        "--dir",
                        str(centre.central),
                        "serve",
                        "--listen",
                        f"127.0.0.1:{intake_port}",
                    ]
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    conf = folder / "nginx.conf"
    conf.write_text(nginx_config(folder, centre.port, intake_port, centre.central, host))
    wait_listening(centre, "127.0.0.1", intake_port)
    start_nginx(centre)
    return centre


def start_nginx(centre: Centre) -> None:
    """Start the centre's nginx (its config is written already)."""
    with (centre.folder / "nginx.log").open("ab") as log:
        centre.processes.append(
            subprocess.Popen(
                centre.inside(
                    ["nginx", "-c", str(centre.folder / "nginx.conf"), "-g", "daemon off;"]
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    wait_listening(centre, centre.host, centre.port)


@pytest.fixture
def centre_factory(tmp_path: Path) -> Iterator[Callable[[str], Centre]]:
    """Start centres (each a repository, an intake and an nginx); stop them at the end."""
    started: list[Centre] = []

    def start(name: str = "centre") -> Centre:
        centre = start_centre(tmp_path / name)
        started.append(centre)
        return centre

    yield start
    for centre in started:
        centre.stop()
    # Every report any box sent in the test: no person, no device (ground rule 6).
    for centre in started:
        assert not leaks(centre.central)


@pytest.fixture
def centre(centre_factory: Callable[[str], Centre]) -> Centre:
    """Return a running centre."""
    return centre_factory("centre")


@dataclass
class Prometheus:
    """A stock Prometheus: scrapes the boxes and receives their remote_write."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """Return its base URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def write_url(self) -> str:
        """Return its remote_write receiver."""
        return f"{self.url}/api/v1/write"

    def query(self, expression: str) -> list[dict[str, Any]]:
        """Run an instant query and return its result vector."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=10) as answer:
            result: list[dict[str, Any]] = json.load(answer)["data"]["result"]
        return result


def start_prometheus(
    folder: Path, scrape: list[tuple[str, str]], ns: str | None = None, host: str = "127.0.0.1"
) -> Prometheus:
    """Start Debian's Prometheus with the remote_write receiver; scrape (target, token)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    inside = ["/usr/sbin/ip", "netns", "exec", ns] if ns else []
    jobs = [
        {
            "job_name": f"box{index}",
            "metrics_path": "/api/v1/sync/openmetrics",
            "scrape_interval": "1s",
            "authorization": {"type": "Bearer", "credentials": token},
            "static_configs": [{"targets": [target]}],
        }
        for index, (target, token) in enumerate(scrape)
    ]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "storage": {"tsdb": {"out_of_order_time_window": "30d"}},
        "scrape_configs": jobs,
    }
    (folder / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    with (folder / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                *inside,
                "prometheus",
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address={host}:{port}",
                "--web.enable-remote-write-receiver",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = Prometheus(folder, port, process, host)
    if ns is not None:
        return running  # its test reads it through the namespace
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{running.url}/-/ready", timeout=2):
                return running
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((folder / "prometheus.log").read_text()) from None
            time.sleep(0.2)


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[..., Prometheus]]:
    """Start Prometheus servers; stop them at the end."""
    started: list[Prometheus] = []

    def start(scrape: list[tuple[str, str]] | None = None) -> Prometheus:
        running = start_prometheus(tmp_path / f"prometheus{len(started)}", scrape or [])
        started.append(running)
        return running

    yield start
    for running in started:
        running.process.terminate()
        try:
            running.process.wait(10)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()


# The fixtures' people and devices: none may appear in anything a box sends up.
FORBIDDEN: Final = re.compile(
    r"([0-9a-f]{2}[:-]){5}[0-9a-f]{2}|\b10\.\d+\.\d+\.\d+\b|\b192\.168\.\d+\.\d+\b"
    r"|eleve|prof\.|\"prof\"|referent\b|Camille|Sophie|Martin|Durand|Dupont|Jo D\.",
    re.IGNORECASE,
)


def leaks(central: Path) -> list[str]:
    """Return every forbidden string found in the reports a centre stored."""
    found = []
    for path in (central / "intake" / "reports").rglob("*.json"):
        text = path.read_text()
        found += [f"{path.name}: {match.group(0)}" for match in FORBIDDEN.finditer(text)]
    return found


def link_of(config: PreauConfig) -> LinkState:
    """Read a running box's link state as another process would (read-only)."""
    conn = sqlite3.connect(f"file:{config.state_path}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute("SELECT state FROM sync_link WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        row = None
    finally:
        conn.close()
    if row is None:
        return LinkState()
    known = LinkState.__dataclass_fields__
    return LinkState(**{k: v for k, v in json.loads(row[0]).items() if k in known})


def spool_count(config: PreauConfig) -> int:
    """Return how many reports wait in a running box's spool."""
    conn = sqlite3.connect(f"file:{config.state_path}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM sync_spool").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def wait_for(check: Callable[[], bool], box: PreauProcess, within: float = 90) -> None:
    """Wait until ``check`` holds while the box runs."""
    deadline = time.monotonic() + within
    while not check():
        assert box.process.poll() is None, box.output()
        assert time.monotonic() < deadline, box.output()
        time.sleep(0.2)

"""UI benchmark: every page of each role, its weight, its render time, the dashboard's year.

The demo school (``preau demo``: a referent, teachers, staff, pupils) on a
state DB holding a year of invented use of a 600-pupil collège (the
features' own history writers, :mod:`appliance.demo_history`), served by
the box's web unit (``preau run directory scheduler sync web``, as
``systemd/preau-web.service`` runs it).

1. Pages. Each role logs in through the API; its pages are its landing page
   and every link of its menu, as a person would open them. A page's weight
   is its HTML plus every stylesheet, script and icon it loads.
2. Render time. 20 sessions (5 a role) open their role's pages in turn for
   ``--seconds``, twice: with 20 aiohttp sessions, where an answer counts
   only when it is a 200 whose ``<h1>`` is the one the page had when it was
   first opened and that ends the page (``</html>``), with each page's p95
   printed; then with wrk, one thread a session (its cookie), which checks
   each answer is a 200, a whole page with its ``<h1>``, neither the login
   form nor an error page. ``render_p95_ms`` is wrk's: a Python client on
   the same two cores slows the server it measures (its p95 is given too,
   ``render_p95_aiohttp_ms``). One wrong answer fails the run.
3. The dashboard with a year of history: one session opens it ``--dashboards``
   times in a row; p95. The dashboard reads its 30 past days once every 10
   minutes (they no longer change) and today at every page, so the line also
   gives its first render, with every past day read (``dashboard_year_cold_ms``).
4. The peer: nginx serving each page's bytes from a file, opened by the same
   20 sessions the same way (SHA-256 checked by the aiohttp pass; wrk's pass
   gives ``peer_nginx_p95_ms``): the floor for a page of this weight here.

Ends with ``RESULT pages=… max_page_kb=… render_p95_ms=… render_p95_aiohttp_ms=…
dashboard_year_p95_ms=… dashboard_year_cold_ms=… peer_nginx_p95_ms=… answers=…``. Targets (#16):
every page ≤ 150 KB, p95 ≤ 150 ms, the dashboard with a year ≤ 250 ms.
Run from the repository: ``.venv/bin/python bench/ui.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yarl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.config import build_config, demo_config, load_config
from appliance.config_render import render_config
from appliance.core import Core
from appliance.demo import seed_demo
from appliance.demo_history import HistoryPlan, seed_history
from bench._peers import ensure_debian_packages, free_port, result_line, static_nginx, which

REPO = Path(__file__).resolve().parent.parent
ROLES = ("referent", "teacher", "staff", "pupil")
# The services of the box's preau-web unit (systemd/preau-web.service): its own process.
WEB_UNIT = ("directory", "scheduler", "sync", "web")
SESSIONS_PER_ROLE = 5
_H1 = re.compile(rb"<h1[^>]*>(.*?)</h1>", re.S)
_NAV = re.compile(rb"<nav\b.*?</nav>", re.S)
# A menu link's path; its query (the help's ?depuis=) is context, not another page.
_HREF = re.compile(rb'href="(/[^"#?]*)(?:[?#][^"]*)?"')
_ASSET = re.compile(rb'(?:<link[^>]+href|<script[^>]+src|<img[^>]+src)="(/[^"]+)"')


@dataclass(frozen=True, slots=True)
class Page:
    """A page as first opened: who opens it, what it must show, what it weighs."""

    role: str
    path: str
    h1: bytes
    body: bytes
    weight: int  # HTML and every asset it loads
    first_ms: float = 0.0  # its first render (the dashboard: every past day read)


def p95(values: list[float]) -> float:
    """Return the 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)]


async def seed(config_path: Path, pupils: int, days: int) -> dict[str, tuple[str, str]]:
    """Seed the demo school and a year of a collège's use; return (login, password) by role."""
    config = load_config(config_path)
    core = Core(config, config_path)
    await core.async_open()
    try:
        accounts = await seed_demo(core, reset_passwords=False)
        assert accounts is not None
        logins: dict[str, tuple[str, str]] = {}
        for account in accounts:
            logins.setdefault(account.person.role, (account.person.id, account.password))
        # The collège's people, for the history (no password: nobody logs in as them).
        now = dt.datetime.now(dt.UTC).isoformat()
        people = [(f"eleve{n:04d}", "pupil", f"{3 + n % 4}{'ABCDE'[n % 5]}") for n in range(pupils)]
        people += [(f"prof{n:03d}", "teacher", "") for n in range(pupils // 15)]
        async with core.db.write() as tx:
            await tx.executemany(
                "INSERT OR IGNORE INTO people (id, source, display_name, role, school_uai,"
                " class_name, updated_at) VALUES (?, 'local', ?, ?, ?, ?, ?)",
                [
                    (login, login, role, config.site.schools[0].uai, klass, now)
                    for login, role, klass in people
                ],
            )
        today = dt.datetime.now(config.site.zone).date()
        plan = HistoryPlan.ending(today, days, tuple((p[0], p[1]) for p in people))
        written = await seed_history(core, plan)
        print(f"history: {days} days, rows {written}", flush=True)
        return logins
    finally:
        await core.async_close()


async def log_in(base: str, login: str, password: str) -> aiohttp.ClientSession:
    """Return a session logged in through the API."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(
        f"{base}/api/v1/session", json={"login": login, "password": password}
    ) as response:
        if response.status != 200:
            raise SystemExit(f"login of {login}: {response.status} {await response.text()}")
    return session


async def discover(base: str, role: str, session: aiohttp.ClientSession) -> list[Page]:
    """Return the role's landing page and every page of its menu, first opened."""
    t0 = time.perf_counter()
    async with session.get(f"{base}/") as response:
        landing = urllib.parse.urlsplit(str(response.url)).path
        body = await response.read()
    landing_ms = (time.perf_counter() - t0) * 1000  # the first render of the landing page
    nav = _NAV.search(body)
    paths = [landing]
    for href in _HREF.findall(nav.group(0) if nav else b""):
        path = href.decode()
        if path not in paths and path not in ("/logout", "/login"):
            paths.append(path)
    assets: dict[str, int] = {}
    pages = []
    for path in paths:
        t0 = time.perf_counter()
        async with session.get(f"{base}{path}", allow_redirects=False) as response:
            body = await response.read()
            if response.status != 200:
                raise SystemExit(f"{role} {path}: {response.status}")
        first_ms = landing_ms if path == landing else (time.perf_counter() - t0) * 1000
        h1 = _H1.search(body)
        if h1 is None or not body.rstrip().endswith(b"</html>"):
            raise SystemExit(f"{role} {path}: not a whole page")
        weight = len(body)
        for asset in _ASSET.findall(body):
            url = asset.decode()
            if url not in assets:
                async with session.get(f"{base}{url}") as response:
                    if response.status != 200:
                        raise SystemExit(f"{role} {path}: asset {url} answered {response.status}")
                    assets[url] = len(await response.read())
            weight += assets[url]
        pages.append(Page(role, path, h1.group(1), body, weight, first_ms))
    return pages


async def load(
    base: str,
    sessions: list[tuple[aiohttp.ClientSession, list[Page]]],
    seconds: float,
    check_bytes: bool,
) -> tuple[list[float], int]:
    """Open each session's pages in turn for ``seconds``; return (latencies ms, wrong)."""
    stop = time.monotonic() + seconds
    latencies: list[float] = []
    by_page: dict[str, list[float]] = {}
    wrong = 0

    async def one(session: aiohttp.ClientSession, pages: list[Page], offset: int) -> None:
        nonlocal wrong
        index = offset
        while time.monotonic() < stop:
            page = pages[index % len(pages)]
            index += 1
            t0 = time.perf_counter()
            async with session.get(f"{base}{page.path}", allow_redirects=False) as response:
                body = await response.read()
                status = response.status
            elapsed = (time.perf_counter() - t0) * 1000
            h1 = _H1.search(body)
            good = status == 200 and body.rstrip().endswith(b"</html>")
            good = good and h1 is not None and h1.group(1) == page.h1
            if check_bytes:
                good = good and body == page.body  # every byte, not only its digest
            if good:
                latencies.append(elapsed)
                by_page.setdefault(f"{page.role} {page.path}", []).append(elapsed)
            else:
                wrong += 1

    await asyncio.gather(*(one(session, pages, n) for n, (session, pages) in enumerate(sessions)))
    slow = sorted(by_page.items(), key=lambda item: -p95(item[1]))[:6]
    print("slowest p95: " + ", ".join(f"{name} {p95(v):.0f} ms" for name, v in slow), flush=True)
    return latencies, wrong


# wrk, one thread a session (its cookie, its pages in turn). Each answer is checked
# inside wrk: a 200, a whole page (``</html>``) with its ``<h1>``, neither the login
# form nor an error page; wrk cannot tell which request an answer is for, so the
# h1 itself is checked in the aiohttp pass. Only checked answers count.
_WRK = r"""
local plans, threads, count = {}, {}, 0
function setup(thread)
  count = count + 1
  thread:set("id", count)
  table.insert(threads, thread)
end
function init(args)
  local n = 0
  for line in io.lines(args[1]) do
    n = n + 1
    if n == id then
      local fields = {}
      for field in line:gmatch("[^\t]+") do table.insert(fields, field) end
      cookie = fields[1] ~= "-" and fields[1] or nil
      paths = {}
      for i = 2, #fields do table.insert(paths, fields[i]) end
    end
  end
  turn, good, bad = id, 0, 0
end
function request()
  turn = turn + 1
  local headers = {}
  if cookie then headers["Cookie"] = cookie end
  return wrk.format("GET", paths[turn % #paths + 1], headers)
end
function response(status, headers, body)
  local whole = body:find("</html>", 1, true) and body:find("<h1", 1, true)
  local wrong = body:find('id="error-title"', 1, true) or body:find('action="/login"', 1, true)
  if status == 200 and whole and not wrong then good = good + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local g, b = 0, 0
  for _, t in ipairs(threads) do g = g + t:get("good"); b = b + t:get("bad") end
  io.write(string.format("CHECKED %d %d %.3f %.3f\n", g, b,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000))
end
"""


def wrk_load(
    base: str, plans: list[tuple[str | None, list[str]]], seconds: float, folder: Path
) -> tuple[int, int, float, float]:
    """Load ``base`` with one wrk thread a plan (cookie, paths); return (good, bad, p50, p95)."""
    (folder / "plans.tsv").write_text(
        "".join("\t".join([cookie or "-", *paths]) + "\n" for cookie, paths in plans)
    )
    (folder / "check.lua").write_text(_WRK)
    out = subprocess.run(
        [which("wrk"), "-t", str(len(plans)), "-c", str(len(plans)), "-d", f"{seconds:.0f}s",
         "-s", str(folder / "check.lua"), base, "--", str(folder / "plans.tsv")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = re.search(r"CHECKED (\d+) (\d+) ([\d.]+) ([\d.]+)", out)
    if found is None:
        raise SystemExit(f"wrk said: {out}")
    return int(found[1]), int(found[2]), float(found[3]), float(found[4])


def cookie_of(session: aiohttp.ClientSession, base: str) -> str:
    """Return a session's cookies as a ``Cookie`` header."""
    jar = session.cookie_jar.filter_cookies(yarl.URL(base))
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())


def start_nginx(folder: Path, pages: list[Page]) -> tuple[subprocess.Popen[bytes], str]:
    """Serve every page's bytes from a file; return nginx and its base URL."""
    root = folder / "www"
    for page in pages:
        target = root / page.role / page.path.strip("/") / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(page.body)
    return static_nginx(folder, root)


async def wait_http(url: str, patience: float = 60.0) -> None:
    """Wait until ``url`` answers 200."""
    deadline = time.monotonic() + patience
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} never answered")
            await asyncio.sleep(0.2)


async def bench(arguments: argparse.Namespace, folder: Path) -> str:
    """Run the four parts; return the RESULT line."""
    port = free_port()
    config = demo_config(folder / "data").model_dump(mode="json")
    config["web"]["port"] = port
    config["filter"]["listen"] = [f"127.0.0.1:{free_port()}"]
    config["filter"]["upstreams"] = ["127.0.0.1:9"]  # no traffic leaves the machine
    config["cache"]["listen"] = [f"127.0.0.1:{free_port()}"]
    config_path = folder / "preau.toml"
    config_path.write_text(render_config(build_config(config), "bench/ui.py"))
    logins = await seed(config_path, arguments.pupils, arguments.days)
    preau = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is timed
        [str(REPO / ".venv/bin/preau"), "--config", str(config_path), "--log-level", "WARNING",
         "run", *WEB_UNIT],
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    sessions: list[tuple[aiohttp.ClientSession, list[Page]]] = []
    try:
        await wait_http(f"{base}/login")
        pages: dict[str, list[Page]] = {}
        for role in ROLES:
            first = await log_in(base, *logins[role])
            pages[role] = await discover(base, role, first)
            sessions.append((first, pages[role]))
            for _ in range(SESSIONS_PER_ROLE - 1):
                sessions.append((await log_in(base, *logins[role]), pages[role]))
        every = [page for role in ROLES for page in pages[role]]
        for page in every:
            print(f"{page.role:<9} {page.path:<24} {page.weight / 1024:6.1f} KB", flush=True)
        # First with 20 aiohttp sessions, which check each page's own h1 and time each page.
        latencies, wrong = await load(base, sessions, arguments.seconds, check_bytes=False)
        if wrong or not latencies:
            raise SystemExit(f"{wrong} wrong answers of {len(latencies) + wrong}")
        # Then with wrk (C): the same 20 sessions without a Python client on the same cores.
        plans: list[tuple[str | None, list[str]]] = [
            (cookie_of(session, base), [p.path for p in pages]) for session, pages in sessions
        ]
        good, bad, wrk_p50, wrk_p95 = await asyncio.to_thread(
            wrk_load, base, plans, arguments.seconds, folder
        )
        if bad or not good:
            raise SystemExit(f"wrk: {bad} wrong answers of {good + bad}")
        referent = sessions[0][0]
        dashboards: list[float] = []
        for _ in range(arguments.dashboards):
            t0 = time.perf_counter()
            async with referent.get(f"{base}/dashboard") as response:
                body = await response.read()
                if response.status != 200 or b'data-figure="filter.queries"' not in body:
                    raise SystemExit(f"the dashboard answered {response.status}")
            dashboards.append((time.perf_counter() - t0) * 1000)
    finally:
        for session, _pages in sessions:
            await session.close()
        preau.terminate()
        preau.wait(20)

    nginx, peer = start_nginx(folder, every)
    peer_sessions: list[tuple[aiohttp.ClientSession, list[Page]]] = []
    try:
        await wait_http(f"{peer}/{every[0].role}{every[0].path}/")
        for role in ROLES:
            served = [
                Page(p.role, f"/{p.role}{p.path}/", p.h1, p.body, p.weight) for p in pages[role]
            ]
            for _ in range(SESSIONS_PER_ROLE):
                peer_sessions.append((aiohttp.ClientSession(), served))
        peer_latencies, peer_wrong = await load(
            peer, peer_sessions, arguments.seconds, check_bytes=True
        )
        if peer_wrong:
            raise SystemExit(f"nginx: {peer_wrong} wrong answers")
        peer_plans: list[tuple[str | None, list[str]]] = [
            (None, [p.path for p in served]) for _session, served in peer_sessions
        ]
        peer_good, peer_bad, _peer_p50, peer_wrk_p95 = await asyncio.to_thread(
            wrk_load, peer, peer_plans, arguments.seconds, folder
        )
        if peer_bad or not peer_good:
            raise SystemExit(f"nginx with wrk: {peer_bad} wrong answers")
    finally:
        for session, _pages in peer_sessions:
            await session.close()
        nginx.terminate()
        nginx.wait(10)

    cold = next(p for p in every if p.role == "referent" and p.path == "/dashboard")
    slowest = sorted(every, key=lambda page: -page.weight)[0]
    print(f"heaviest page: {slowest.role} {slowest.path}", flush=True)
    print(
        f"aiohttp sessions: {len(latencies)} answers in {arguments.seconds:.0f} s, median "
        f"{statistics.median(latencies):.1f} ms, p95 {p95(latencies):.1f} ms; wrk: {good} "
        f"answers, median {wrk_p50:.1f} ms; dashboard median {statistics.median(dashboards):.1f}"
        f" ms; nginx: {len(peer_latencies)} answers (aiohttp), {peer_good} (wrk)",
        flush=True,
    )
    return result_line(
        pages=len(every),
        max_page_kb=round(slowest.weight / 1024, 1),
        render_p95_ms=round(wrk_p95, 1),
        render_p95_aiohttp_ms=round(p95(latencies), 1),
        dashboard_year_p95_ms=round(p95(dashboards), 1),
        dashboard_year_cold_ms=round(cold.first_ms, 1),
        peer_nginx_p95_ms=round(peer_wrk_p95, 2),
        answers=good,
        history_days=arguments.days,
    )


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="load time, each part")
    parser.add_argument("--dashboards", type=int, default=60, help="dashboards in a row")
    parser.add_argument("--days", type=int, default=365, help="days of history")
    parser.add_argument("--pupils", type=int, default=600, help="pupils in the history")
    arguments = parser.parse_args()
    ensure_debian_packages("nginx-light", "wrk")
    with tempfile.TemporaryDirectory() as folder_name:
        line = asyncio.run(bench(arguments, Path(folder_name)))
    print(line, flush=True)


if __name__ == "__main__":
    main()

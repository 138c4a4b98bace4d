"""The referent's dashboard: alerts first, figures with their 30 days, in words (#16 scope 1)."""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from typing import Any

from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.dashboard import Window
from appliance.dashboard_state import PAST_DAYS_SECONDS, PastDays, collect, note_kept
from appliance.features import Feature
from tests.appliance.web.conftest import login_as


def hour_key(instant: dt.datetime) -> str:
    """Return the filter's hourly counter key of an instant."""
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:00Z")


async def seed_school_day(core: Core) -> Window:
    """Write a day of a school's traffic, two days before it, and things to act on."""
    window = Window.ending(time.time(), core.config.site.zone)
    now = dt.datetime.now(dt.UTC)
    two_days_ago = now - dt.timedelta(days=2)
    today = window.today.isoformat()
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT INTO filter_counters (hour, group_name, category, queries, blocked)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (hour_key(now), "pupils", "-", 1000, 0),
                (hour_key(now), "pupils", "adult", 234, 56),
                (hour_key(two_days_ago), "pupils", "-", 800, 30),
            ],
        )
        await tx.executemany(
            "INSERT INTO filter_unblock_requests (domain, category, group_name, created_at)"
            " VALUES (?, 'games', 'pupils', ?)",
            [("jeu.example", now.isoformat()), ("autre.example", now.isoformat())],
        )
        await tx.executemany(
            "INSERT INTO portal_usage (day, user, mac, up_bytes, down_bytes)"
            " VALUES (?, ?, ?, 1, 1)",
            [
                (today, "eleve", "02:00:00:00:00:01"),
                (today, "eleve", "02:00:00:00:00:02"),
                (today, "prof", "02:00:00:00:00:03"),
                (today, "invite-7KQ2", "02:00:00:00:00:04"),
            ],
        )
        await tx.execute(
            "INSERT INTO job_runs (job_id, last_error) VALUES ('filter-log-purge', ?)",
            ("2026-11-30T02:00:00+00:00 disk I/O error",),
        )
    return window


async def page(client: TestClient[Any, Any], lang: str = "fr") -> str:
    """Return the dashboard's HTML in ``lang``."""
    response = await client.get("/dashboard", params={"lang": lang})
    assert response.status == 200
    return await response.text()


def alerts_of(body: str) -> list[tuple[str, str]]:
    """Return (level, text) of each alert, in the page's order."""
    found = re.findall(r'<li class="alert (\w+)"[^>]*><a href="[^"]+">([^<]+)</a>', body)
    return [(level, html.unescape(text)) for level, text in found]


def tile(body: str, key: str) -> str:
    """Return the HTML of one figure's tile."""
    match = re.search(rf'<article class="tile"[^>]*data-figure="{key}">(.*?)</article>', body, re.S)
    assert match, f"no tile {key}"
    return match.group(1)


def big(body: str, key: str) -> str:
    """Return a tile's big value, unescaped."""
    match = re.search(r'<p class="big">([^<]*)</p>', tile(body, key))
    assert match
    return html.unescape(match.group(1))


async def test_alerts_come_first_errors_first_each_in_words_with_its_page(
    core: Core, client: TestClient[Any, Any]
) -> None:
    await seed_school_day(core)
    await login_as(client, "referent")
    body = await page(client)
    assert body.index('id="alerts"') < body.index('id="figures"') < body.index('id="services"')
    alerts = alerts_of(body)
    levels = [level for level, _text in alerts]
    assert levels == sorted(levels, key=lambda level: level != "error")
    texts = [text for _level, text in alerts]
    # The filter is on with no list: nothing is blocked, and the referent is told so (#7.2).
    assert "Aucune liste de filtrage n'est chargée : aucun site n'est bloqué." in texts
    # A failed job is named by its title, never by its id.
    assert "La tâche « Purge des requêtes bloquées » a échoué à sa dernière exécution." in texts
    assert "filter-log-purge" not in body
    assert "Demandes de déblocage qui attendent votre réponse : 2." in texts
    assert "Les espaces pédagogiques ne sont pas sauvegardés." in texts
    links = dict(re.findall(r'<li class="alert \w+"[^>]*><a href="([^"]+)">([^<]+)</a>', body))
    assert links["/filtering"]


async def test_each_figure_shows_today_its_split_and_30_days_of_bars(
    core: Core, client: TestClient[Any, Any]
) -> None:
    window = await seed_school_day(core)
    await login_as(client, "referent")
    body = await page(client)
    assert big(body, "filter.queries") == "1\u202f234"
    assert big(body, "filter.blocked") == "56"
    assert big(body, "filter.requests") == "2"
    assert big(body, "portal.people") == "3"
    people = html.unescape(tile(body, "portal.people"))
    assert "élèves : <strong>1</strong>" in people
    assert "enseignants : <strong>1</strong>" in people
    assert "invités : <strong>1</strong>" in people
    assert big(body, "portal.devices") == "4"
    queries = tile(body, "filter.queries")
    assert queries.count("<rect ") == 30
    titles = [html.unescape(t) for t in re.findall(r"<title>([^<]+)</title>", queries)]
    two_days_ago = window.days[-3].strftime("%d/%m")
    assert f"{two_days_ago} : 800" in titles
    assert titles[-1].endswith(" : 1\u202f234")
    assert 'href="/filtering"' in queries
    assert "au plus 1\u202f234" in html.unescape(queries)


async def test_states_noted_each_night_fill_their_chart_and_old_ones_are_forgotten(
    core: Core, client: TestClient[Any, Any]
) -> None:
    window = await seed_school_day(core)
    yesterday = window.days[-2]
    long_ago = window.today - dt.timedelta(days=500)
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT INTO dashboard_days (day, key, value) VALUES (?, ?, ?)",
            [(yesterday.isoformat(), "filter.requests", 5), (long_ago.isoformat(), "x", 1)],
        )
    assert await note_kept(core) == 3  # the disk, the requests waiting, the space used
    rows = await core.db.fetchall("SELECT day, key, value FROM dashboard_days ORDER BY key, day")
    noted = {(r["day"], r["key"]): r["value"] for r in rows}
    assert noted[(window.today.isoformat(), "filter.requests")] == 2
    assert (long_ago.isoformat(), "x") not in noted  # past the year kept
    await login_as(client, "referent")
    requests = tile(await page(client), "filter.requests")
    titles = [html.unescape(t) for t in re.findall(r"<title>([^<]+)</title>", requests)]
    assert titles[-2] == f"{yesterday.strftime('%d/%m')} : 5"
    assert titles[-1].endswith(" : 2")
    assert titles[0].endswith(" : —")  # a night with no note is unknown, not zero


async def test_the_page_is_english_with_english_numbers(
    core: Core, client: TestClient[Any, Any]
) -> None:
    await seed_school_day(core)
    await login_as(client, "referent")
    body = await page(client, "en")
    assert big(body, "filter.queries") == "1,234"
    texts = [text for _level, text in alerts_of(body)]
    assert "No filtering list is loaded: no site is blocked." in texts
    assert "The job “Purge of blocked queries” failed on its last run." in texts
    assert "Aucune liste" not in body
    # The last events name the action in words, in the page's language.
    # and who did it by name (Camille Martin is the referent's display name).
    assert re.search(r"</time> Log in\s+— Camille Martin</li>", body)


async def test_one_feature_s_fault_costs_its_tiles_not_the_page(
    core: Core, client: TestClient[Any, Any]
) -> None:
    async def broken(core: Core, window: Window) -> list[Any]:
        raise RuntimeError("a bug in one feature")

    core.features = (*core.features, Feature(name="broken", figures=broken))
    await seed_school_day(core)
    await login_as(client, "referent")
    body = await page(client)
    assert big(body, "filter.queries") == "1\u202f234"


async def test_only_the_referent_sees_the_dashboard(client: TestClient[Any, Any]) -> None:
    await login_as(client, "prof")
    response = await client.get("/dashboard", allow_redirects=False)
    assert response.status in (302, 303, 403)


async def test_past_days_are_read_once_a_while_today_at_every_page(core: Core) -> None:
    """A day that is over does not change: 30 of them are read every 10 minutes, not per page."""
    window = await seed_school_day(core)
    now = window.now
    figures, _alerts = await collect(core, window)
    queries = {f.key: f for f in figures}["filter.queries"]
    assert queries.today == 1234
    two_days_ago = window.days[-3].isoformat()
    assert queries.days[two_days_ago] == 800
    # More traffic today and, late, on a past day.
    late = dt.datetime.combine(window.days[-3], dt.time(10), core.config.site.zone)
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT INTO filter_counters (hour, group_name, category, queries, blocked)"
            " VALUES (?, 'teachers', '-', ?, 0)",
            [(hour_key(dt.datetime.now(dt.UTC)), 6), (hour_key(late), 5)],
        )
    soon = Window.ending(now + 60, core.config.site.zone)
    figures, _alerts = await collect(core, soon)
    queries = {f.key: f for f in figures}["filter.queries"]
    assert queries.today == 1240  # today: read at every page
    assert queries.days[two_days_ago] == 800  # the past: as read a minute ago
    later = Window.ending(now + PAST_DAYS_SECONDS + 1, core.config.site.zone)
    figures, _alerts = await collect(core, later)
    if later.today == window.today:  # (not when the test runs across midnight)
        assert {f.key: f for f in figures}["filter.queries"].days[two_days_ago] == 805
    # The nightly note reads today only and leaves the page's past days alone.
    await note_kept(core, now + 120)
    assert core.shared(PastDays).read_at == later.now

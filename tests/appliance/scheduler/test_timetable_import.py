"""A teacher's timetable, imported with a preview, drives their page (issue #13 scope 2, 4).

The export is written for today, around the test's own "now" (the lesson
started ten minutes ago and ends in forty), so the page has a lesson under
way whatever the hour: the class it opens on comes from the timetable, and a
control set now ends with that lesson, not with the default grid.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from appliance.identity.model import Person
from appliance.web.app import create_app
from filter import state as filtering
from tests.appliance.web.conftest import ClientFactory, login_as, seed_local_people
from tests.conftest import SCHOOL_UAI, make_config, opened_core, run_preau, write_config

pytestmark = pytest.mark.timeout(120)


def _export(start: dt.datetime, end: dt.datetime) -> str:
    stamp = "%Y%m%dT%H%M%SZ"
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//WebUntis//FR\r\n"
        "BEGIN:VEVENT\r\nUID:cours-now@college.test\r\n"
        f"DTSTAMP:{start:{stamp}}\r\nDTSTART:{start:{stamp}}\r\nDTEND:{end:{stamp}}\r\n"
        "SUMMARY:Histoire-géographie 6A\r\nLOCATION:Salle 12\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )


async def test_import_previews_then_commits_and_the_page_follows_the_lesson(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    config = make_config(tmp_path / "data", scheduler={"school_days": every_day})
    path = write_config(config, tmp_path / "preau.toml")
    async with opened_core(config) as core:
        await seed_local_people(core)
        await core.directory.add_local_person(
            Person("eleve5b", "local", "E", "pupil", SCHOOL_UAI, class_name="5B"),
            "pupil-password-2",
        )
        await core.directory.set_classes_taught("prof", ["5B", "6A"])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lesson_end = now + dt.timedelta(minutes=40)
    export = tmp_path / "export.ics"
    export.write_text(_export(now - dt.timedelta(minutes=10), lesson_end))

    preview = run_preau("timetable", "import-ics", "prof", str(export), config_path=path)
    assert preview.returncode == 0, preview.stderr
    assert "1 cours lus (classes : 6A)." in preview.stdout
    assert "Aperçu seulement" in preview.stdout
    async with opened_core(config) as core:
        assert await core.db.fetchall("SELECT * FROM timetable") == []  # nothing written
    commit = run_preau("timetable", "import-ics", "prof", str(export), "--commit", config_path=path)
    assert commit.returncode == 0, commit.stderr
    assert "Enregistré : 1 cours." in commit.stdout
    nobody = run_preau("timetable", "import-ics", "personne", str(export), config_path=path)
    assert nobody.returncode == 2
    assert "aucun enseignant" in nobody.stderr

    async with opened_core(config) as core:
        client: TestClient[Any, Any] = await aiohttp_client(create_app(core))
        token = await login_as(client, "prof")
        page = await (await client.get("/internet")).text()
        assert "Internet de la classe — 6A" in page  # the lesson under way, not 5B
        cut = await client.post(
            "/internet",
            data={"csrf_token": token, "classe": "6A", "action": "cut"},
            allow_redirects=False,
        )
        assert cut.status == 303
        (control,) = await filtering.active_overrides(core)
        assert control.expires_at == pytest.approx(lesson_end.timestamp(), abs=5)
        entries = [(e["actor"], e["action"]) for e in await core.audit.recent(20)]
        assert ("cli", "timetable.import") in entries


async def test_a_manual_grid_with_weeks_a_and_b_is_previewed_then_committed(
    tmp_path: Path,
) -> None:
    today = dt.date.today()
    grid = tmp_path / "grille.csv"
    grid.write_text("jour;créneau;classe;salle;semaine\nlundi;M3;6A;Salle 102;\nmardi;M1;6A;;A\n")
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    without_a = make_config(tmp_path / "data", scheduler={"school_days": every_day})
    path = write_config(without_a, tmp_path / "preau.toml")
    async with opened_core(without_a) as core:
        await seed_local_people(core)
    refused = run_preau("timetable", "import-grid", "prof", str(grid), config_path=path)
    assert refused.returncode == 2
    assert "scheduler.week_a" in refused.stderr

    config = make_config(
        tmp_path / "data", scheduler={"school_days": every_day, "week_a": today.isoformat()}
    )
    path = write_config(config, tmp_path / "preau.toml")
    preview = run_preau("timetable", "import-grid", "prof", str(grid), config_path=path)
    assert preview.returncode == 0, preview.stderr
    assert "+ lun. 10:05-11:00 6A" in preview.stdout
    assert "+ mar. 08:00-08:55 6A" in preview.stdout
    assert "Aperçu seulement" in preview.stdout
    commit = run_preau("timetable", "import-grid", "prof", str(grid), "--commit", config_path=path)
    assert commit.returncode == 0, commit.stderr
    async with opened_core(config) as core:
        rows = await core.db.fetchall(
            "SELECT starts_at FROM timetable WHERE person_id = 'prof' AND source = 'grid'"
        )
    zone = config.site.zone
    days = [dt.datetime.fromtimestamp(row["starts_at"], zone).date() for row in rows]
    mondays = [day for day in days if day.weekday() == 0]
    tuesdays = sorted(day for day in days if day.weekday() == 1)
    assert len(mondays) > 40  # every week of the coming year
    # Tuesdays of weeks A only: every other week from this one (no holidays here).
    assert all((b - a).days == 14 for a, b in itertools.pairwise(tuesdays))
    assert abs(len(tuesdays) - len(mondays) / 2) <= 1

    bad = tmp_path / "mauvaise.csv"
    bad.write_text("lundi;M9;6A\n")
    refused = run_preau("timetable", "import-grid", "prof", str(bad), config_path=path)
    assert refused.returncode == 2
    assert "ligne 1" in refused.stderr
    assert "M9" in refused.stderr
    again = run_preau("timetable", "import-grid", "prof", str(grid), config_path=path)
    assert "Changements : 0 créneaux hebdomadaires." in again.stdout

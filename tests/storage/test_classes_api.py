"""Class areas: teachers hand out in Distribution, pupils of the class read; pupils
hand work in before the deadline, only their own; teachers read it all (issue #5
scope 1; CARMO #8.11, #9.1, #9.17)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.identity.model import Person
from tests.appliance.web.conftest import login_as, put_file
from tests.conftest import SCHOOL_UAI

BASE = "/api/v1/classes/6A"


async def _more_pupils(core: Core) -> None:
    for person_id, class_name in (("voisin", "6A"), ("autre", "5B")):
        await core.directory.add_local_person(
            Person(person_id, "local", person_id, "pupil", SCHOOL_UAI, class_name=class_name),
            "pupil-password-2",
        )


async def test_distribution_is_written_by_teachers_and_read_by_the_class(
    client: TestClient[Any, Any], core: Core
) -> None:
    await _more_pupils(core)
    token = await login_as(client, "prof")
    put = await put_file(
        client, token, f"{BASE}/distribution/file", "Chapitre 1/cours.pdf", b"%PDF"
    )
    assert put.status == 201
    token = await login_as(client, "eleve")
    listed = await (await client.get(f"{BASE}/distribution")).json()
    assert listed["entries"] == [{"name": "Chapitre 1", "folder": True}]
    got = await client.get(f"{BASE}/distribution/file", params={"path": "Chapitre 1/cours.pdf"})
    assert await got.read() == b"%PDF"
    refused = await put_file(client, token, f"{BASE}/distribution/file", "triche.pdf", b"x")
    assert refused.status == 403
    await login_as(client, "autre", "pupil-password-2")
    assert (await client.get(f"{BASE}/distribution")).status == 403


async def test_rendus_before_the_deadline_own_folder_only(
    client: TestClient[Any, Any], core: Core
) -> None:
    await _more_pupils(core)
    token = await login_as(client, "prof")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=7)
    open_one = await client.post(
        f"{BASE}/assignments",
        json={"title": "Rédaction", "due_at": future.isoformat()},
        headers={"X-CSRF-Token": token},
    )
    closed_one = await client.post(
        f"{BASE}/assignments",
        json={"title": "Exercice d'hier", "due_at": past.isoformat()},
        headers={"X-CSRF-Token": token},
    )
    assert open_one.status == closed_one.status == 201
    open_id = (await open_one.json())["id"]
    closed_id = (await closed_one.json())["id"]
    token = await login_as(client, "eleve")
    titles = [
        a["title"] for a in (await (await client.get(f"{BASE}/assignments")).json())["assignments"]
    ]
    assert titles == ["Exercice d'hier", "Rédaction"]
    handed = await put_file(
        client, token, f"{BASE}/assignments/{open_id}/rendu", "copie.odt", b"ma copie"
    )
    assert handed.status == 201
    late = await put_file(client, token, f"{BASE}/assignments/{closed_id}/rendu", "copie.odt", b"x")
    assert late.status == 403
    assert "date limite" in (await late.json())["error"]["message"]
    mine = await (await client.get(f"{BASE}/assignments/{open_id}/rendus")).json()
    assert list(mine["rendus"]) == ["eleve"]
    # A classmate sees neither the list nor the file of another pupil.
    await login_as(client, "voisin", "pupil-password-2")
    theirs = await client.get(
        f"{BASE}/assignments/{open_id}/rendus/eleve/file", params={"path": "copie.odt"}
    )
    assert theirs.status == 403
    assert (await (await client.get(f"{BASE}/assignments/{open_id}/rendus")).json())["rendus"] == {
        "voisin": []
    }
    # The teacher reads everybody's work but does not change it.
    token = await login_as(client, "prof")
    everyone = await (await client.get(f"{BASE}/assignments/{open_id}/rendus")).json()
    assert [f["name"] for f in everyone["rendus"]["eleve"]] == ["copie.odt"]
    got = await client.get(
        f"{BASE}/assignments/{open_id}/rendus/eleve/file", params={"path": "copie.odt"}
    )
    assert await got.read() == b"ma copie"
    changed = await put_file(client, token, f"{BASE}/assignments/{open_id}/rendu", "x.odt", b"x")
    assert changed.status == 403
    missing = await client.get("/api/v1/classes/6A/assignments/999/rendus")
    assert missing.status == 404
    bad = await client.get("/api/v1/classes/..%2Fetc/distribution")
    assert bad.status in (403, 404, 422)


async def test_a_new_school_year_archives_class_areas(
    client: TestClient[Any, Any], core: Core
) -> None:
    import time

    from storage.store import ProductionsStore

    token = await login_as(client, "prof")
    assert (
        await put_file(client, token, f"{BASE}/distribution/file", "cours.pdf", b"%PDF")
    ).status == 201
    opened = await client.post(
        f"{BASE}/assignments", json={"title": "Devoir"}, headers={"X-CSRF-Token": token}
    )
    assert opened.status == 201
    store = ProductionsStore(core)
    assert await store.roll_classes_over(actor="test") == 1
    assert (await (await client.get(f"{BASE}/assignments")).json())["assignments"] == []
    assert (await (await client.get(f"{BASE}/distribution")).json())["entries"] == []
    archive = core.config.site.data_dir / "productions" / "classes-archive"
    (kept,) = list(archive.iterdir())
    assert (kept / "6A" / "Distribution" / "cours.pdf").read_bytes() == b"%PDF"
    # Kept for the grace period, then erased by the nightly lifecycle job.
    assert await store.purge_class_archives() == 0
    later = time.time() + (core.config.productions.departed_grace_days + 2) * 86_400
    assert await store.purge_class_archives(now=later) == 1
    assert not kept.exists()


async def test_a_teacher_is_refused_every_route_of_a_class_they_do_not_teach(
    client: TestClient[Any, Any], core: Core
) -> None:
    """Issue #13 scope 3 (CARMO #9.17): "prof" teaches 6A, not 5B; the referent, every class."""
    await _more_pupils(core)
    other = "/api/v1/classes/5B"
    token = await login_as(client, "referent")
    headers = {"X-CSRF-Token": token}
    handed_out = await put_file(client, token, f"{other}/distribution/file", "cours.pdf", b"%PDF")
    assert handed_out.status == 201
    opened = await client.post(f"{other}/assignments", json={"title": "DM"}, headers=headers)
    assert opened.status == 201
    assignment = (await opened.json())["id"]
    token = await login_as(client, "autre", "pupil-password-2")  # a pupil of 5B
    handed_in = await put_file(
        client, token, f"{other}/assignments/{assignment}/rendu", "copie.odt", b"copie"
    )
    assert handed_in.status == 201
    token = await login_as(client, "prof")
    headers = {"X-CSRF-Token": token}
    refused = {
        "distribution": await client.get(f"{other}/distribution"),
        "distribution file": await client.get(
            f"{other}/distribution/file", params={"path": "cours.pdf"}
        ),
        "hand out": await put_file(client, token, f"{other}/distribution/file", "x.pdf", b"x"),
        "open an assignment": await client.post(
            f"{other}/assignments", json={"title": "Contrôle"}, headers=headers
        ),
        "assignments": await client.get(f"{other}/assignments"),
        "work handed in": await client.get(f"{other}/assignments/{assignment}/rendus"),
        "all of it, zipped": await client.get(f"{other}/assignments/{assignment}/rendus.zip"),
        "hand back": await put_file(
            client, token, f"{other}/assignments/{assignment}/rendus/autre/corrige", "c.pdf", b"c"
        ),
        "a piece of work": await client.get(
            f"{other}/assignments/{assignment}/rendus/autre/file", params={"path": "copie.odt"}
        ),
    }
    for what, answer in refused.items():
        assert answer.status == 403, what
        assert "5B" in (await answer.json())["error"]["message"], what
    # Their own class still works, and the class page offers only theirs.
    assert (await client.get(f"{BASE}/distribution")).status == 200
    page = await client.get("/classe", params={"classe": "5B"})
    text = await page.text()
    assert "Cette classe n'est pas la vôtre." in text
    assert "cours.pdf" not in text
    assert ">DM<" not in text  # the assignment's title (a bare "DM" can be in a CSRF token)


async def test_all_the_work_handed_in_downloads_as_one_zip_by_name(
    client: TestClient[Any, Any], core: Core
) -> None:
    """Issue #13 scope 7 (CARMO #9.17): a folder per pupil, named, the bytes as handed in."""
    import io
    import zipfile

    await _more_pupils(core)
    token = await login_as(client, "prof")
    opened = await client.post(
        f"{BASE}/assignments", json={"title": "Exposé"}, headers={"X-CSRF-Token": token}
    )
    assignment = (await opened.json())["id"]
    for login, password, body in (
        ("eleve", None, b"copie de Jo"),
        ("voisin", "pupil-password-2", b"V"),
    ):
        token = await login_as(client, login, password)
        sent = await put_file(
            client, token, f"{BASE}/assignments/{assignment}/rendu", "exposé/plan.odt", body
        )
        assert sent.status == 201
    await login_as(client, "prof")
    answer = await client.get(f"{BASE}/assignments/{assignment}/rendus.zip")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(await answer.read()))
    assert sorted(archive.namelist()) == [
        "Jo D. (eleve)/exposé/plan.odt",
        "voisin (voisin)/exposé/plan.odt",
    ]
    assert archive.read("Jo D. (eleve)/exposé/plan.odt") == b"copie de Jo"
    # A pupil cannot, nor a teacher of another class.
    await login_as(client, "eleve")
    assert (await client.get(f"{BASE}/assignments/{assignment}/rendus.zip")).status == 403


async def test_a_teacher_hands_corrected_work_back_to_one_pupil(
    client: TestClient[Any, Any], core: Core
) -> None:
    """Issue #13 scope 7: the pupil reads it beside their work; nobody else does."""
    await _more_pupils(core)
    token = await login_as(client, "prof")
    opened = await client.post(
        f"{BASE}/assignments", json={"title": "Dictée"}, headers={"X-CSRF-Token": token}
    )
    assignment = (await opened.json())["id"]
    back = f"{BASE}/assignments/{assignment}/rendus/eleve/corrige"
    stored = await put_file(client, token, back, "dictée-corrigée.pdf", b"%PDF corrige")
    assert stored.status == 201
    # Not in the work handed in, nor in its zip.
    assert (await (await client.get(f"{BASE}/assignments/{assignment}/rendus")).json()) == {
        "rendus": {}
    }
    token = await login_as(client, "eleve")
    listed = await (await client.get(back)).json()
    assert [e["name"] for e in listed["entries"]] == ["dictée-corrigée.pdf"]
    got = await client.get(f"{back}/file", params={"path": "dictée-corrigée.pdf"})
    assert await got.read() == b"%PDF corrige"
    assert (await put_file(client, token, back, "triche.pdf", b"x")).status == 403
    token = await login_as(client, "voisin", "pupil-password-2")
    assert (await client.get(back)).status == 403  # a classmate's
    page = await (await client.get("/classe")).text()
    assert "dictée-corrigée.pdf" not in page
    await login_as(client, "eleve")
    page = await (await client.get("/classe")).text()
    assert "Corrigé :" in page
    assert "dictée-corrigée.pdf" in page


async def test_a_pupil_hands_in_a_file_already_in_mes_fichiers(
    client: TestClient[Any, Any], core: Core
) -> None:
    """Issue #13 scope 7: no download and upload again from a phone."""
    token = await login_as(client, "prof")
    opened = await client.post(
        f"{BASE}/assignments", json={"title": "Exposé"}, headers={"X-CSRF-Token": token}
    )
    assignment = (await opened.json())["id"]
    token = await login_as(client, "eleve")
    mine = await put_file(
        client, token, "/api/v1/spaces/pedagogical/file", "SVT/exposé.odp", b"mes diapos"
    )
    assert mine.status == 201
    page = await (await client.get("/classe")).text()
    assert '<option value="SVT/exposé.odp">' in page  # offered on the class page
    handed = await client.post(
        f"{BASE}/assignments/{assignment}/rendu/from-files",
        json={"path": "SVT/exposé.odp"},
        headers={"X-CSRF-Token": token},
    )
    assert handed.status == 201
    assert await handed.json() == {"name": "exposé.odp", "size": 10}
    got = await client.get(
        f"{BASE}/assignments/{assignment}/rendus/eleve/file", params={"path": "exposé.odp"}
    )
    assert await got.read() == b"mes diapos"
    # The same from the class page's form, without JavaScript.
    form = {
        "csrf_token": token,
        "classe": "6A",
        "devoir": str(assignment),
        "chemin": "SVT/exposé.odp",
    }
    sent = await client.post("/classe/rendu-fichier", data=form, allow_redirects=False)
    assert sent.status == 303
    assert "message=stored" in sent.headers["Location"]
    for path, status in (("../../etc/passwd", 400), ("SVT/absent.odp", 404)):
        refused = await client.post(
            f"{BASE}/assignments/{assignment}/rendu/from-files",
            json={"path": path},
            headers={"X-CSRF-Token": token},
        )
        assert refused.status == status, path


async def test_a_group_has_its_own_hand_outs_and_assignments(
    client: TestClient[Any, Any], core: Core
) -> None:
    """Issue #13 scope 6 (CARMO #9.9): a group of 6A gets a document and an assignment
    the rest of the class does not see, and only its pupils hand in."""
    from appliance.identity import subgroups

    await _more_pupils(core)
    group = await subgroups.save(core, "6A", "Tiers-temps", ["eleve"], actor="prof")
    token = await login_as(client, "prof")
    put = await put_file(
        client, token, f"{BASE}/distribution/file?groupe={group.id}", "consignes.pdf", b"%PDF-g"
    )
    assert put.status == 201
    opened = await client.post(
        f"{BASE}/assignments",
        json={"title": "Exercice adapté", "group_id": group.id},
        headers={"X-CSRF-Token": token},
    )
    assert opened.status == 201
    assignment_id = (await opened.json())["id"]
    whole_class = await client.post(
        f"{BASE}/assignments", json={"title": "Pour tous"}, headers={"X-CSRF-Token": token}
    )
    assert whole_class.status == 201
    elsewhere = await client.post(
        "/api/v1/classes/5B/assignments",
        json={"title": "Mauvais groupe", "group_id": group.id},
        headers={"X-CSRF-Token": await login_as(client, "referent")},
    )
    assert elsewhere.status == 422  # a group of 6A is not 5B's
    staff_view = await (await client.get(f"{BASE}/assignments")).json()
    assert [(a["title"], a["group"]) for a in staff_view["assignments"]] == [
        ("Pour tous", ""),
        ("Exercice adapté", "Tiers-temps"),
    ]

    # The group's pupil reads the group's document and hands the group's work in.
    token = await login_as(client, "eleve")
    listed = await client.get(f"{BASE}/distribution", params={"groupe": str(group.id)})
    assert (await listed.json())["entries"][0]["name"] == "consignes.pdf"
    titles = [a["title"] for a in (await (await client.get(f"{BASE}/assignments")).json())[
        "assignments"]]  # fmt: skip
    assert titles == ["Pour tous", "Exercice adapté"]
    handed = await put_file(
        client, token, f"{BASE}/assignments/{assignment_id}/rendu", "copie.odt", b"copie"
    )
    assert handed.status == 201

    # The rest of the class sees neither, and cannot hand in.
    token = await login_as(client, "voisin", "pupil-password-2")
    hidden = await client.get(f"{BASE}/distribution", params={"groupe": str(group.id)})
    assert hidden.status == 403
    titles = [a["title"] for a in (await (await client.get(f"{BASE}/assignments")).json())[
        "assignments"]]  # fmt: skip
    assert titles == ["Pour tous"]
    refused = await put_file(
        client, token, f"{BASE}/assignments/{assignment_id}/rendu", "copie.odt", b"x"
    )
    assert refused.status == 403
    assert "autre groupe" in (await refused.json())["error"]["message"]

    # The class page: the group's roster is its pupils only.
    await login_as(client, "prof")
    page = await (await client.get("/classe?classe=6A")).text()
    assert "Groupe Tiers-temps" in page
    assert "1 sur 1 ont rendu" in page

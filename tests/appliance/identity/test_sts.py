"""Teacher-class links from STS-Web's "Emploi du temps" export (issue #13 scope 1).

``tests/fixtures/sts/STS_emp_0750001A_2026.xml`` is written from the format
schools get (root ``STS_EDT``, ``INDIVIDUS``, ``DIVISIONS`` with their
services and teachers, ``GROUPES`` drawing on divisions), in ISO-8859-15 as
STS writes it, with an accented name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.identity.model import Person
from appliance.identity.sts import StsError, match_teachers
from tests.conftest import SCHOOL_UAI, make_config, opened_core, run_preau, write_config

EXPORT = Path(__file__).parents[2] / "fixtures" / "sts" / "STS_emp_0750001A_2026.xml"
PEOPLE = [
    ("prof.durand", "Durand", "Sophie"),
    ("prof.nguyen", "Nguyen", "Minh"),
    ("h.lefevre", "Lefevre", "Helene"),  # the directory wrote it without accents
]


def test_the_export_gives_each_teacher_their_classes() -> None:
    links = match_teachers(EXPORT.read_bytes(), PEOPLE)
    assert links.classes_of == {
        "prof.durand": {"6A", "5B"},  # 5B through the Latin group drawing on it
        "prof.nguyen": {"5B"},
        "h.lefevre": {"6A"},
    }
    assert links.divisions == {"6A", "5B"}
    assert links.unmatched == []


def test_names_matching_nobody_or_several_are_reported_and_linked_to_nothing() -> None:
    people = [("a", "Durand", "Sophie"), ("b", "Durand", "Sophie"), ("c", "Nguyen", "Minh")]
    links = match_teachers(EXPORT.read_bytes(), people)
    assert links.classes_of == {"c": {"5B"}}
    assert links.ambiguous == ["DURAND Sophie"]
    assert links.unmatched == ["LEFÈVRE Hélène"]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"<ELEVES/>", "STS_EDT"),
        (b"not xml at all", "pas du XML"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><STS_EDT/>', "type de document"),
    ],
)
def test_what_is_not_an_sts_export_is_refused(data: bytes, words: str) -> None:
    with pytest.raises(StsError, match=words):
        match_teachers(data, PEOPLE)


async def test_the_import_previews_then_commits(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    path = write_config(config, tmp_path / "preau.toml")
    async with opened_core(config) as core:
        for person_id, surname, given in PEOPLE:
            await core.directory.add_local_person(
                Person(person_id, "local", f"{given} {surname}", "teacher", SCHOOL_UAI,
                       given, surname),
                "teacher-password-1",
            )  # fmt: skip
        for class_name in ("6A", "5B"):
            await core.directory.add_local_person(
                Person(f"eleve{class_name}", "local", "E", "pupil", SCHOOL_UAI,
                       class_name=class_name),
                "pupil-password-1",
            )  # fmt: skip
    preview = run_preau("directory", "import-sts", str(EXPORT), config_path=path)
    assert preview.returncode == 0, preview.stderr
    assert "3 enseignants reconnus, 4 liens enseignant-classe, 2 classes." in preview.stdout
    assert "+ prof.durand 5B" in preview.stdout
    assert "Aperçu seulement" in preview.stdout
    # Mme Durand's weekly courses: 6A every week, the Latin group in weeks A.
    assert "Emplois du temps : 2 cours hebdomadaires de 1 enseignants" in preview.stdout
    async with opened_core(config) as core:
        assert await core.directory.links_from("sts") == set()
        assert await core.db.fetchall("SELECT * FROM timetable") == []
    done = run_preau("directory", "import-sts", str(EXPORT), "--commit", config_path=path)
    assert done.returncode == 0, done.stderr
    async with opened_core(config) as core:
        assert await core.directory.classes_taught("prof.durand") == ["5B", "6A"]
        assert await core.directory.classes_taught("h.lefevre") == ["6A"]
        teaching = await core.directory.teaching()
        assert {t["source"] for t in teaching} == {"sts"}
        lessons = await core.db.fetchall(
            "SELECT DISTINCT person_id, class_name, room, source FROM timetable"
        )
        # The fixture's weeks A are in spring 2026, gone by now: the weekly 6A course remains.
        assert [tuple(row) for row in lessons] == [("prof.durand", "6A", "Salle 102", "sts")]
    again = run_preau("directory", "import-sts", str(EXPORT), config_path=path)
    assert "Changements : 0 liens ajoutés, 0 retirés." in again.stdout

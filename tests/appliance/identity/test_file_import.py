"""People from the AAF's XML or SIECLE's CSV where no LDAP exists (issue #13 scope 1).

The fixtures are written from the formats schools get: the AAF's
``ficAlimMENESR`` (pupils, staff, a parent; a date of birth, an INE and an
e-mail that must never be kept) and SIECLE's pupils' CSV (with a BOM, CRLF,
and once in Windows-1252 as SIECLE writes it).
"""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pytest

from appliance.identity.aaf import ExportFileError, ImportedPerson, read_aaf, read_siecle
from appliance.identity.model import Person
from tests.conftest import SCHOOL_UAI, make_config, opened_core, run_preau, write_config

FIXTURES = Path(__file__).parents[2] / "fixtures" / "aaf"
AAF = FIXTURES / "ENT_0750001A_Complet_20260901.xml"
SIECLE = FIXTURES / "siecle-eleves.csv"


def test_the_aaf_gives_pupils_and_staff_and_nothing_more_than_table_9() -> None:
    people = read_aaf(AAF.read_bytes(), SCHOOL_UAI)
    assert people == [
        ImportedPerson("zoe.lefevre", "pupil", "Zoé", "Lefèvre", "6A", "6EME"),
        ImportedPerson("t.martin7", "pupil", "Théo", "Martin", "5B", "5EME"),
        ImportedPerson("zoe.lefevre2", "pupil", "Zoé", "Lefèvre", "5B", "5EME"),
        ImportedPerson("sophie.durand", "teacher", "Sophie", "Durand", teaches=("6A", "5B")),
        ImportedPerson("marc.roux", "staff", "Marc", "Roux"),
    ]  # the parent is left out; another school's class (3C) too
    kept = {str(value) for person in people for value in dataclasses.astuple(person)}
    assert not {"14/03/2014", "1234567890A", "paul.lefevre@example.fr"} & kept


def test_siecle_csv_in_utf8_or_windows_1252() -> None:
    expected = [
        ImportedPerson("zoe.lefevre", "pupil", "Zoé", "LEFÈVRE", "6A", "6EME"),
        ImportedPerson("theo.martin", "pupil", "Théo", "MARTIN", "5B", "5EME"),
        ImportedPerson("anne-sophie.dupont-moreau", "pupil", "Anne Sophie", "DUPONT-MOREAU",
                       "6A", "6EME"),
    ]  # fmt: skip
    from appliance.identity.aaf import decoded

    assert read_siecle(decoded(SIECLE.read_bytes())) == expected
    windows = SIECLE.read_text(encoding="utf-8-sig").encode("cp1252")
    assert read_siecle(decoded(windows)) == expected


@pytest.mark.parametrize(
    ("reader", "data", "words"),
    [
        ("aaf", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><ficAlimMENESR/>',
         "type de document"),
        ("aaf", b"<STS_EDT/>", "ficAlimMENESR"),
        ("aaf", b"pas du xml", "pas du XML"),
        ("siecle", b"NOM;PRENOM;DATE NAISS\r\nA;B;C\r\n", "DIVISION"),
        ("siecle", b"NOM;PRENOM;DIVISION\r\nSeul\r\n", "ligne 2"),
    ],
)  # fmt: skip
def test_what_is_not_an_export_is_refused(reader: str, data: bytes, words: str) -> None:
    def read() -> object:
        return read_aaf(data, SCHOOL_UAI) if reader == "aaf" else read_siecle(data.decode())

    with pytest.raises(ExportFileError, match=words):
        read()


async def test_the_import_previews_commits_hands_out_passwords_and_marks_departures(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path / "data")
    path = write_config(config, tmp_path / "preau.toml")
    async with opened_core(config) as core:
        # An account the referent made by hand, with a name the file also gives.
        await core.directory.add_local_person(
            Person("marc.roux", "local", "Marc Roux (CPE)", "staff", SCHOOL_UAI),
            "staff-password-1",
        )
    preview = run_preau("directory", "import-file", str(AAF), config_path=path)
    assert preview.returncode == 0, preview.stderr
    assert "5 personnes lues : 3 élèves, 1 enseignants, 1 autres personnels." in preview.stdout
    assert "Nouveaux comptes : 4 ; changements de classe : 0" in preview.stdout
    assert "marc.roux : un compte existe déjà" in preview.stdout
    async with opened_core(config) as core:
        assert await core.directory.person("zoe.lefevre") is None  # a preview writes nothing

    done = run_preau("directory", "import-file", str(AAF), "--commit", config_path=path)
    assert done.returncode == 0, done.stderr
    (passwords_file,) = (config.site.data_dir / "imports").glob("premiers-mots-de-passe-*.csv")
    assert stat.S_IMODE(passwords_file.stat().st_mode) == 0o600
    assert str(passwords_file) in done.stdout
    lines = passwords_file.read_text().splitlines()
    assert lines[0] == "identifiant,nom,classe,premier mot de passe"
    first = {line.split(",")[0]: line.split(",")[-1] for line in lines[1:]}
    assert sorted(first) == ["sophie.durand", "t.martin7", "zoe.lefevre", "zoe.lefevre2"]
    assert first["zoe.lefevre"] not in done.stdout  # passwords never on the screen

    async with opened_core(config) as core:
        outcome = await core.directory.authenticate("zoe.lefevre", first["zoe.lefevre"])
        assert outcome.person is not None
        assert outcome.person.class_name == "6A"
        assert await core.directory.classes_taught("sophie.durand") == ["5B", "6A"]
        teaching = await core.directory.teaching()
        assert {t["source"] for t in teaching} == {"aaf"}
        hand_made = await core.directory.person("marc.roux")
        assert hand_made is not None
        assert hand_made.display_name == "Marc Roux (CPE)"  # untouched

    # Next year's file: Théo left, Zoé (5B) moved to 4C.
    text = AAF.read_text()
    start = text.index("<addRequest>", text.index("1234501"))
    end = text.index("</addRequest>", start) + len("</addRequest>")
    later = tmp_path / "later.xml"
    level = '</value></attr>\n      <attr name="ENTEleveNivFormation"><value>'
    moved_on = text[end:].replace(f"0750001A$5B{level}5EME", f"0750001A$4C{level}4EME", 1)
    later.write_text(text[:start] + moved_on)
    again = run_preau("directory", "import-file", str(later), "--commit", config_path=path)
    assert again.returncode == 0, again.stderr
    assert "départs : 1" in again.stdout
    assert "zoe.lefevre2 : 5B → 4C" in again.stdout
    async with opened_core(config) as core:
        gone = await core.directory.authenticate("t.martin7", first["t.martin7"])
        assert gone.failure == "departed"
        moved = await core.directory.person("zoe.lefevre2")
        assert moved is not None
        assert moved.class_name == "4C"

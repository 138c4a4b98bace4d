"""LDAP directory against a real slapd over StartTLS (#5.19, #5.27, #7.53, #7.54)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.core import Core
from appliance.identity.model import DirectoryError
from tests.conftest import LdapServer, SchoolCA, ldap_section, make_config, opened_core

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("uid", "role"), [("cmartin", "referent"), ("sdurand", "teacher"), ("lbernard", "pupil")]
)
async def test_directory_people_log_in_with_their_role(
    ldap_core: Core, school_ldap: LdapServer, uid: str, role: str
) -> None:
    account = school_ldap.accounts[uid]
    outcome = await ldap_core.directory.authenticate(uid, account.password)
    assert outcome.failure is None
    assert outcome.person is not None
    assert outcome.role == role
    assert outcome.person.source == "ldap"


async def test_pupil_class_comes_from_the_directory(
    ldap_core: Core, school_ldap: LdapServer
) -> None:
    outcome = await ldap_core.directory.authenticate(
        "tdupont", school_ldap.accounts["tdupont"].password
    )
    assert outcome.person is not None
    assert outcome.person.class_name == "5B"


@pytest.mark.parametrize(
    ("login", "password"),
    [
        ("sdurand", "wrong password"),
        ("sdurand", ""),  # an empty password would be an anonymous bind
        ("nobody", "whatever"),
        ("*", "whatever"),  # filter injection
        ("sdurand)(uid=*", "whatever"),
    ],
)
async def test_wrong_credentials_are_refused(ldap_core: Core, login: str, password: str) -> None:
    outcome = await ldap_core.directory.authenticate(login, password)
    assert outcome.person is None
    assert outcome.failure == "bad_credentials"


async def test_sync_caches_classes_groups_and_only_table_9_fields(ldap_core: Core) -> None:
    report = await ldap_core.directory.sync()
    assert report.people == 24
    assert report.groups == 4
    db = ldap_core.db
    classes = {
        row["name"]: row["members"]
        for row in await db.fetchall(
            "SELECT g.name, COUNT(*) AS members FROM groups g JOIN memberships m"
            " ON m.group_id = g.id WHERE g.kind = 'class' GROUP BY g.id"
        )
    }
    assert classes == {"6A": 10, "5B": 10}
    club = await db.fetchall(
        "SELECT m.person_id FROM memberships m JOIN groups g ON g.id = m.group_id"
        " WHERE g.name = 'club-robotique'"
    )
    assert len(club) == 4
    roles = {
        row["role"]: row["n"]
        for row in await db.fetchall("SELECT role, COUNT(*) AS n FROM people GROUP BY role")
    }
    assert roles == {"pupil": 20, "teacher": 3, "referent": 1}
    # CARMO table 9: no e-mail or phone number anywhere in the state DB.
    dump = "\n".join(await ldap_core.executor.run(_dump, db.path))
    assert "college.test" not in dump
    assert "+33" not in dump


def _dump(path: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


async def test_people_who_leave_are_marked_departed_and_come_back(
    tmp_path: Path, slapd_factory: object, test_ca: SchoolCA
) -> None:
    server: LdapServer = slapd_factory()  # type: ignore[operator]
    config = make_config(
        tmp_path / "data", identity={"ldap": ldap_section(server, test_ca.ca_cert, tmp_path)}
    )
    async with opened_core(config) as core:
        await core.directory.sync()
        server.ldapdelete("uid=jrobert,ou=people,dc=college,dc=test")
        report = await core.directory.sync()
        assert report.departed == 1
        row = await core.db.fetchone("SELECT departed_at FROM people WHERE id = 'jrobert'")
        assert row is not None
        assert row["departed_at"] is not None
        # Still departed on the next sync, with the original date.
        await core.directory.sync()
        again = await core.db.fetchone("SELECT departed_at FROM people WHERE id = 'jrobert'")
        assert again is not None
        assert again["departed_at"] == row["departed_at"]
    server.stop()


async def test_untrusted_certificate_is_refused(
    tmp_path: Path, school_ldap: LdapServer, test_ca: SchoolCA
) -> None:
    section = ldap_section(school_ldap, test_ca.other_ca_cert, tmp_path)
    async with opened_core(make_config(tmp_path / "data", identity={"ldap": section})) as core:
        account = school_ldap.accounts["sdurand"]
        outcome = await core.directory.authenticate("sdurand", account.password)
        assert outcome.failure == "directory_unreachable"
        status = await core.directory.check_health()
        assert status.status == "down"


async def test_wrong_service_password_is_named(
    tmp_path: Path, school_ldap: LdapServer, test_ca: SchoolCA
) -> None:
    section = ldap_section(school_ldap, test_ca.ca_cert, tmp_path)
    Path(section["bind_password_file"]).write_text("not the password")  # noqa: ASYNC240
    async with opened_core(make_config(tmp_path / "data", identity={"ldap": section})) as core:
        with pytest.raises(DirectoryError, match="service account was refused"):
            await core.directory.sync()


async def test_empty_directory_answer_does_not_mark_everyone_departed(
    ldap_core: Core, tmp_path: Path
) -> None:
    await ldap_core.directory.sync()
    with pytest.raises(DirectoryError, match="returned nobody"):
        await ldap_core.directory._store_snapshot([], [], None)
    row = await ldap_core.db.fetchone("SELECT COUNT(*) FROM people WHERE departed_at IS NOT NULL")
    assert row is not None
    assert row[0] == 0


async def test_ldaps_works_too(tmp_path: Path, school_ldap: LdapServer, test_ca: SchoolCA) -> None:
    section = ldap_section(school_ldap, test_ca.ca_cert, tmp_path)
    section.update(uri=f"ldaps://127.0.0.1:{school_ldap.ldaps_port}", security="ldaps")
    async with opened_core(make_config(tmp_path / "data", identity={"ldap": section})) as core:
        account = school_ldap.accounts["kbenali"]
        outcome = await core.directory.authenticate("kbenali", account.password)
        assert outcome.role == "teacher"


def test_security_must_match_the_uri_scheme() -> None:
    from appliance.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"identity\.ldap: .*demande une adresse ldaps://"):
        parse_config('[identity.ldap]\nsecurity = "ldaps"\nuri = "ldap://x"\n', "x.toml")


async def test_a_known_pupil_logging_in_again_writes_nothing(
    ldap_core: Core, school_ldap: LdapServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#15: the morning rush paid one durable commit per login; the disk wore for nothing."""
    writes = 0
    write = ldap_core.db.write

    def counted() -> object:
        nonlocal writes
        writes += 1
        return write()

    monkeypatch.setattr(ldap_core.db, "write", counted)
    password = school_ldap.accounts["tdupont"].password
    first = await ldap_core.directory.authenticate("tdupont", password)
    assert first.person is not None
    assert writes == 1  # first seen: cached
    again = await ldap_core.directory.authenticate("tdupont", password)
    assert again.person == first.person
    assert writes == 1  # unchanged: nothing written
    # The cached copy differs from the directory (a class changed, or the
    # pupil had left): the login writes the directory's word.
    await ldap_core.db.execute_write(
        "UPDATE people SET class_name = '4C', departed_at = '2026-07-01' WHERE id = 'tdupont'"
    )
    await ldap_core.directory.authenticate("tdupont", password)
    assert writes == 3  # the UPDATE above, then the login's
    row = await ldap_core.db.fetchone(
        "SELECT class_name, departed_at FROM people WHERE id = ?", ("tdupont",)
    )
    assert row is not None
    assert (row["class_name"], row["departed_at"]) == ("5B", None)

"""The directory at a school's real scale, and in Active Directory's shapes (issue #13 scope 1).

A real slapd with ``olcSizeLimit: 500`` holds a lycée: 2,000 pupils in 24
classes, 120 teachers, 80 groups, the pupils' group made of one group per
class (groups inside groups). A search that is not paged gets 500 entries
and an error; the sync reads every entry. A second slapd speaks Active
Directory's shapes: ``user`` and ``group`` entries, ``sAMAccountName``,
``memberOf`` on people, a ``department`` for the class, nested groups.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap
import pytest

from appliance.config import LdapConfig
from appliance.identity.ldap_directory import containing_groups, ranged_values, taught_classes
from tests.conftest import (
    BASE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    LdapServer,
    SchoolAccount,
    SchoolCA,
    ldap_section,
    make_config,
    opened_core,
    ssha,
    start_slapd,
)

pytestmark = pytest.mark.timeout(180)

CLASSES = [f"{level}{letter}" for level in (6, 5, 4, 3) for letter in "ABCDEF"]  # 24
PUPILS, TEACHERS, SIZE_LIMIT = 2000, 120, 500


def _header() -> list[str]:
    return [
        f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\n"
        "dc: college\no: Lycee test\n",
        *(
            f"dn: ou={ou},{BASE_DN}\nobjectClass: organizationalUnit\nou: {ou}\n"
            for ou in ("people", "groups", "services")
        ),
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: preau\nuserPassword: {ssha(SERVICE_PASSWORD)}\n",
    ]


def lycee_ldif() -> tuple[str, dict[str, SchoolAccount], dict[str, list[str]]]:
    """Return the lycée's LDIF, its accounts, and which classes each teacher's groups give."""
    entries = _header()
    accounts: dict[str, SchoolAccount] = {}
    people = f"ou=people,{BASE_DN}"
    groups = f"ou=groups,{BASE_DN}"

    def person(uid: str, role: str, class_name: str = "", extra: str = "") -> None:
        password = f"pw-{uid}-{secrets.token_hex(3)}"
        accounts[uid] = SchoolAccount(uid, password, role, class_name)
        text = (
            f"dn: uid={uid},{people}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
            f"cn: {uid}\nsn: Nom{uid}\ngivenName: Prenom\nuserPassword: {ssha(password)}\n"
        )
        if class_name:
            text += f"departmentNumber: {class_name}\n"
        entries.append(text + extra)

    pupils_of: dict[str, list[str]] = {name: [] for name in CLASSES}
    for number in range(PUPILS):
        class_name = CLASSES[number % len(CLASSES)]
        uid = f"e{number:04d}"
        person(uid, "pupil", class_name)
        pupils_of[class_name].append(uid)
    teachers = [f"prof{number:03d}" for number in range(TEACHERS)]
    taught: dict[str, list[str]] = {uid: [] for uid in teachers}
    # The first 20 teachers' classes are in an attribute (AAF's "UAI$class"), the
    # others' in Scribe-like "profs-6a" groups (lower case, as Scribe writes them).
    for index, uid in enumerate(teachers):
        classes = [CLASSES[(index + step) % len(CLASSES)] for step in (0, 7)]
        taught[uid] = classes
        extra = "".join(f"businessCategory: 0750001A${c}\n" for c in classes) if index < 20 else ""
        person(uid, "teacher", extra=extra)
    person("referent", "referent")

    def group(cn: str, members: list[str]) -> None:
        listed = "".join(f"member: {dn}\n" for dn in members)
        entries.append(f"dn: cn={cn},{groups}\nobjectClass: groupOfNames\ncn: {cn}\n{listed}")

    for class_name in CLASSES:  # 24 groups of pupils, inside "eleves"
        group(f"eleves-{class_name}", [f"uid={u},{people}" for u in pupils_of[class_name]])
        profs = [u for u in teachers[20:] if class_name in taught[u]]
        group(f"profs-{class_name.lower()}", [f"uid={u},{people}" for u in profs] or [SERVICE_DN])
    group("eleves", [f"cn=eleves-{c},{groups}" for c in CLASSES])
    group("enseignants", [f"uid={u},{people}" for u in teachers])
    group("referents", [f"uid=referent,{people}"])
    for number in range(80 - 3 - 2 * len(CLASSES)):  # clubs, to 80 groups
        group(f"club-{number:02d}", [f"uid=e{number * 7:04d},{people}"])
    return "\n".join(entries), accounts, taught


@pytest.fixture(scope="module")
def lycee(
    tmp_path_factory: pytest.TempPathFactory, test_ca: SchoolCA
) -> Iterator[tuple[LdapServer, dict[str, list[str]]]]:
    """Start the lycée's slapd, with a size limit lower than its number of entries."""
    data, accounts, taught = lycee_ldif()
    server = start_slapd(
        tmp_path_factory.mktemp("lycee"), test_ca, data, accounts, size_limit=SIZE_LIMIT
    )
    yield server, taught
    server.stop()


def _section(server: LdapServer, ca: Path, folder: Path) -> dict[str, Any]:
    section = ldap_section(server, ca, folder)
    section["roles"]["pupil"] = [f"cn=eleves,ou=groups,{BASE_DN}"]
    section["attributes"] = {"teacher_classes": "businessCategory"}
    section["class_teachers_group"] = "profs-{class}"
    section["timeout_seconds"] = 30.0
    return section


def test_the_server_really_cuts_a_search_that_is_not_paged(
    lycee: tuple[LdapServer, dict[str, list[str]]], test_ca: SchoolCA
) -> None:
    """Without this, the sync test below could pass against a server with no limit."""
    server, _ = lycee
    conn = ldap.initialize(server.uri)
    conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(test_ca.ca_cert))
    conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    conn.start_tls_s()
    conn.simple_bind_s(SERVICE_DN, SERVICE_PASSWORD)
    try:
        with pytest.raises(ldap.SIZELIMIT_EXCEEDED):
            conn.search_s(BASE_DN, ldap.SCOPE_SUBTREE, "(objectClass=inetOrgPerson)", ["uid"])
    finally:
        conn.unbind_s()


async def test_sync_reads_a_lycee_past_the_size_limit(
    lycee: tuple[LdapServer, dict[str, list[str]]], test_ca: SchoolCA, tmp_path: Path
) -> None:
    server, taught = lycee
    config = make_config(
        tmp_path / "data", identity={"ldap": _section(server, test_ca.ca_cert, tmp_path)}
    )
    async with opened_core(config) as core:
        report = await core.directory.sync()
        assert report.people == PUPILS + TEACHERS + 1
        assert report.groups == 80
        roles = {
            row["role"]: row["n"]
            for row in await core.db.fetchall(
                "SELECT role, COUNT(*) AS n FROM people GROUP BY role"
            )
        }
        # Pupils are pupils through "eleves-6A" inside "eleves".
        assert roles == {"pupil": PUPILS, "teacher": TEACHERS, "referent": 1}
        members = await core.db.fetchone(
            "SELECT COUNT(*) AS n FROM memberships m JOIN groups g ON g.id = m.group_id"
            " WHERE g.kind = 'class'"
        )
        assert members is not None
        assert members["n"] == PUPILS
        # Every teacher's classes, from the attribute or from the "profs-6a" groups,
        # written as the school names them ("6A"), one class never two.
        for uid in ("prof000", "prof019", "prof020", "prof119"):
            assert await core.directory.classes_taught(uid) == sorted(taught[uid]), uid
        rows = await core.db.fetchone("SELECT COUNT(*) AS n FROM teaching")
        assert rows is not None
        assert rows["n"] == 2 * TEACHERS
        names = {r["class_name"] for r in await core.db.fetchall("SELECT class_name FROM teaching")}
        assert names == set(CLASSES)
        # A pupil logs in with the role the nested group gives.
        pupil = server.accounts["e1234"]
        outcome = await core.directory.authenticate("e1234", pupil.password)
        assert outcome.role == "pupil"
        assert outcome.person is not None
        assert outcome.person.class_name == pupil.class_name
        teacher = await core.directory.authenticate("prof050", server.accounts["prof050"].password)
        assert teacher.role == "teacher"
        assert teacher.person is not None
        assert sorted(teacher.person.teaches) == sorted(c.lower() for c in taught["prof050"])


# -- Active Directory's shapes ----------------------------------------------------------

AD_SCHEMA = """
dn: cn=adlite,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: adlite
olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.1 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch
  SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.2 NAME 'memberOf' EQUALITY distinguishedNameMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
olcAttributeTypes: ( 1.3.6.1.4.1.99999.1.3 NAME 'department' EQUALITY caseIgnoreMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
olcObjectClasses: ( 1.3.6.1.4.1.99999.2.1 NAME 'user' SUP organizationalPerson STRUCTURAL
  MAY ( sAMAccountName $ memberOf $ department $ displayName $ givenName ) )
olcObjectClasses: ( 1.3.6.1.4.1.99999.2.2 NAME 'group' SUP top STRUCTURAL
  MUST cn MAY ( member $ description ) )
"""


def ad_ldif() -> tuple[str, dict[str, SchoolAccount]]:
    """Return an Active-Directory-shaped school: OUs, users, groups of groups."""
    entries = _header()
    accounts: dict[str, SchoolAccount] = {}
    users = f"ou=people,{BASE_DN}"
    groups = f"ou=groups,{BASE_DN}"
    member_of: dict[str, list[str]] = {}
    layout = {
        "Eleves": ["G-Eleves-5C"],
        "G-Eleves-5C": ["a.leroy", "b.moreau"],
        "Profs": ["c.roux", "d.fabre"],
        "Profs-5C": ["c.roux"],
        "Admins-IT": ["e.garnier"],
        "G-Referents": ["Admins-IT"],
    }
    for group_cn, members in layout.items():
        for member in members:
            member_of.setdefault(member, []).append(f"CN={group_cn},{groups}")
    for login, role, class_name in (
        ("a.leroy", "pupil", "5C"),
        ("b.moreau", "pupil", "5C"),
        ("c.roux", "teacher", ""),
        ("d.fabre", "teacher", ""),
        ("e.garnier", "referent", ""),
    ):
        password = f"Pw-{login}-{secrets.token_hex(3)}"
        accounts[login] = SchoolAccount(login, password, role, class_name)
        text = (
            f"dn: CN={login},{users}\nobjectClass: user\ncn: {login}\nsn: {login}\n"
            f"sAMAccountName: {login}\ngivenName: Prenom\ndisplayName: Prenom {login}\n"
            f"userPassword: {ssha(password)}\n"
            + "".join(f"memberOf: {dn}\n" for dn in member_of.get(login, []))
        )
        if class_name:
            text += f"department: {class_name}\n"
        entries.append(text)
    for group_cn, members in layout.items():
        listed = "".join(
            f"member: CN={m},{users if m not in layout else groups}\n" for m in members
        )
        entries.append(f"dn: CN={group_cn},{groups}\nobjectClass: group\ncn: {group_cn}\n{listed}")
    return "\n".join(entries), accounts


async def test_an_active_directory_shaped_school_maps_roles_classes_and_teachers(
    tmp_path_factory: pytest.TempPathFactory, test_ca: SchoolCA, tmp_path: Path
) -> None:
    data, accounts = ad_ldif()
    server = start_slapd(tmp_path_factory.mktemp("ad"), test_ca, data, accounts, schema=AD_SCHEMA)
    try:
        section = ldap_section(server, test_ca.ca_cert, tmp_path)
        groups = f"ou=groups,{BASE_DN}"
        section.update(
            user_filter="(&(objectClass=user)(sAMAccountName={login}))",
            people_filter="(objectClass=user)",
            group_filter="(objectClass=group)",
            class_teachers_group="Profs-{class}",
            attributes={"id": "sAMAccountName", "class": "department"},
            roles={
                "pupil": [f"CN=Eleves,{groups}"],
                "teacher": [f"CN=Profs,{groups}"],
                "referent": [f"CN=G-Referents,{groups}"],
            },
        )
        config = make_config(tmp_path / "data", identity={"ldap": section})
        async with opened_core(config) as core:
            report = await core.directory.sync()
            assert report.people == 5
            found = {
                row["id"]: (row["role"], row["class_name"])
                for row in await core.db.fetchall("SELECT id, role, class_name FROM people")
            }
            assert found == {
                "a.leroy": ("pupil", "5C"),  # through G-Eleves-5C inside Eleves
                "b.moreau": ("pupil", "5C"),
                "c.roux": ("teacher", ""),
                "d.fabre": ("teacher", ""),
                "e.garnier": ("referent", ""),  # through Admins-IT inside G-Referents
            }
            assert await core.directory.classes_taught("c.roux") == ["5C"]
            assert await core.directory.classes_taught("d.fabre") == []
            outcome = await core.directory.authenticate("E.Garnier", accounts["e.garnier"].password)
            assert outcome.role == "referent"
    finally:
        server.stop()


# -- the pure parts ------------------------------------------------------------------


def test_a_range_active_directory_sends_says_where_the_next_starts() -> None:
    first = {"member;range=0-1499": [f"cn=p{n}".encode() for n in range(1500)]}
    values, following = ranged_values(first, "member")
    assert (len(values), following) == (1500, 1500)
    last = {"member;range=1500-*": [b"cn=p1500", b"cn=p1501"]}
    assert ranged_values(last, "member") == (["cn=p1500", "cn=p1501"], None)
    assert ranged_values({"member": [b"cn=a"]}, "member") == (["cn=a"], None)


def test_groups_inside_groups_end_even_in_a_cycle() -> None:
    direct = {"u": ["g1"], "g1": ["g2"], "g2": ["g1", "g3"]}
    assert sorted(containing_groups(direct, ["u"])) == ["g1", "g2", "g3"]


def test_taught_classes_come_from_the_attribute_and_the_groups() -> None:
    config = LdapConfig.model_validate(
        {
            "attributes": {"teacher_classes": "ENTAuxEnsClasses"},
            "class_teachers_group": "profs-{class}",
        }
    )
    attrs = {"ENTAuxEnsClasses": [b"0750001A$6A", b"4B"]}
    groups = ["cn=profs-3c,ou=groups,dc=x", "cn=club,ou=groups,dc=x", "cn=PROFS-6A,dc=x"]
    # "PROFS-6A" names the same class as the attribute's "6A": kept once.
    assert taught_classes(attrs, groups, config) == ("6A", "4B", "3c")

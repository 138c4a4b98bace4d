"""Role mapping from directory data, and delegation (#5.19, #5.25): pure tests."""

from __future__ import annotations

import dataclasses

from appliance.config import LdapConfig, LdapRoles
from appliance.identity.ldap_directory import person_from_entry
from appliance.identity.model import effective_role, role_from_directory

ROLES = LdapRoles(
    pupil=["cn=eleves,ou=groups,dc=x"],
    teacher=["cn=profs,ou=groups,dc=x"],
    referent=["CN=Referents,OU=Groups,DC=x"],
    attribute="ENTPersonProfils",
    attribute_values={"National_ELV": "pupil", "National_ENS": "teacher"},
)


def test_group_membership_maps_to_role_case_insensitively() -> None:
    assert role_from_directory(["cn=eleves,ou=groups,dc=x"], [], ROLES) == "pupil"
    assert role_from_directory(["cn=referents,ou=groups,dc=x"], [], ROLES) == "referent"


def test_highest_role_wins() -> None:
    groups = ["cn=profs,ou=groups,dc=x", "cn=referents,ou=groups,dc=x"]
    assert role_from_directory(groups, [], ROLES) == "referent"


def test_profile_attribute_maps_to_role() -> None:
    assert role_from_directory([], ["National_ENS"], ROLES) == "teacher"
    assert role_from_directory([], ["National_DIR"], ROLES) is None


def test_delegation_raises_role_only_for_its_school() -> None:
    grants = {"0750001A": ["referent"]}
    assert effective_role("teacher", grants, "0750001A") == "referent"  # type: ignore[arg-type]
    assert effective_role("teacher", grants, "0750002B") == "teacher"  # type: ignore[arg-type]


def test_entry_keeps_only_table_9_fields() -> None:
    # CARMO #7.53 / table 9: no e-mail, no phone number, even if the entry has them.
    config = LdapConfig(roles=ROLES)
    attrs = {
        "uid": [b"jdoe"],
        "displayName": [b"Jo Doe"],
        "givenName": [b"Jo"],
        "sn": [b"Doe"],
        "departmentNumber": [b"6A"],
        "mail": [b"jdoe@example.org"],
        "telephoneNumber": [b"+33 1 23 45 67 89"],
    }
    person = person_from_entry(attrs, ["cn=eleves,ou=groups,dc=x"], config, "0750001A")
    assert person is not None
    kept = " ".join(str(value) for value in dataclasses.asdict(person).values())
    assert "example.org" not in kept
    assert "+33" not in kept
    assert person.class_name == "6A"
    assert person.role == "pupil"
    assert person.school_uai == "0750001A"


def test_entry_without_role_is_ignored() -> None:
    config = LdapConfig(roles=ROLES)
    assert person_from_entry({"uid": [b"x"]}, [], config, "0750001A") is None

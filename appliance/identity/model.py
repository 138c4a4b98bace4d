"""Pure identity model: people, roles and how directory data maps to a role."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from appliance.config import ROLES, LdapRoles, Role

# Higher wins when a person matches several roles.
ROLE_RANK: Final[dict[Role, int]] = {role: rank for rank, role in enumerate(ROLES)}


@dataclass(frozen=True, slots=True)
class Person:
    """A person as kept by the appliance: only the fields of CARMO table 9."""

    id: str
    source: str
    display_name: str
    role: Role
    school_uai: str
    given_name: str = ""
    surname: str = ""
    class_name: str = ""
    level: str = ""
    groups: tuple[str, ...] = field(default=())
    # The classes a teacher teaches, as the directory says (issue #13).
    teaches: tuple[str, ...] = field(default=())


def highest_role(roles: Iterable[Role]) -> Role | None:
    """Return the most privileged role among ``roles``."""
    best: Role | None = None
    for role in roles:
        if best is None or ROLE_RANK[role] > ROLE_RANK[best]:
            best = role
    return best


def role_from_directory(
    group_dns: Iterable[str], profile_values: Iterable[str], mapping: LdapRoles
) -> Role | None:
    """Map a directory entry's groups and profile attribute to a role, or None."""
    member_of = {dn.lower() for dn in group_dns}
    found: list[Role] = []
    for role in ROLES:
        configured: list[str] = getattr(mapping, role)
        if any(dn.lower() in member_of for dn in configured):
            found.append(role)
    for value in profile_values:
        mapped = mapping.attribute_values.get(value)
        if mapped is not None:
            found.append(mapped)
    return highest_role(found)


def effective_role(base: Role, grants: Mapping[str, Iterable[Role]], school_uai: str) -> Role:
    """Combine a person's own role with the roles delegated to them for a school (#5.25)."""
    return highest_role([base, *grants.get(school_uai, ())]) or base


class DirectoryError(Exception):
    """The directory answered, but not as configured (bad service account, bad base)."""


class DirectoryUnreachable(DirectoryError):
    """The directory cannot be reached or the TLS handshake failed."""


@dataclass(frozen=True, slots=True)
class DirectoryGroup:
    """A group read from the directory."""

    dn: str
    name: str
    member_dns: tuple[str, ...]

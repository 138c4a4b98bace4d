"""LDAP / Active Directory backend (#5.19, #5.27, #7.54).

python-ldap is a blocking C extension: every public method here blocks and is
called through the bounded executor by :mod:`appliance.identity.directory`.
Connections always use StartTLS or LDAPS with certificate checking; there is no
cleartext option. A password is checked by binding as the person, never by
reading a hash. Only the attributes of CARMO table 9 are requested (#7.53).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import ldap
import ldap.filter

from appliance.config import LdapConfig
from appliance.identity.model import Person, role_from_directory

_LOGGER = logging.getLogger(__name__)

_T = TypeVar("_T")
_POOL_SIZE: Final = 8  # kept TLS connections per kind, at most
_UNREACHABLE = (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR, ldap.TIMELIMIT_EXCEEDED)


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


def _text(values: Sequence[bytes] | None) -> list[str]:
    return [value.decode("utf-8", "replace") for value in values or ()]


def _first(attrs: Mapping[str, Sequence[bytes]], name: str) -> str:
    if not name:
        return ""
    for key, values in attrs.items():
        if key.lower() == name.lower() and values:
            return values[0].decode("utf-8", "replace").strip()
    return ""


def _all(attrs: Mapping[str, Sequence[bytes]], name: str) -> list[str]:
    if not name:
        return []
    for key, values in attrs.items():
        if key.lower() == name.lower():
            return _text(values)
    return []


def person_from_entry(
    attrs: Mapping[str, Sequence[bytes]],
    group_dns: Iterable[str],
    config: LdapConfig,
    default_school: str,
) -> Person | None:
    """Build a Person from a directory entry, or None if it maps to no role."""
    mapping = config.attributes
    person_id = _first(attrs, mapping.id)
    if not person_id:
        return None
    groups = list(group_dns)
    role = role_from_directory(groups, _all(attrs, config.roles.attribute), config.roles)
    if role is None:
        return None
    given = _first(attrs, mapping.given_name)
    surname = _first(attrs, mapping.surname)
    display = _first(attrs, mapping.display_name) or f"{given} {surname}".strip() or person_id
    return Person(
        id=person_id,
        source="ldap",
        display_name=display,
        role=role,
        school_uai=_first(attrs, mapping.school) or default_school,
        given_name=given,
        surname=surname,
        class_name=_first(attrs, mapping.class_),
        level=_first(attrs, mapping.level),
        groups=tuple(groups),
    )


class LdapDirectory:
    """Blocking client for one configured directory."""

    def __init__(self, config: LdapConfig, service_password: str, default_school: str) -> None:
        """Keep the settings; nothing connects until a method is called."""
        self._config = config
        self._service_password = service_password
        self._default_school = default_school
        self._pool_lock = threading.Lock()
        self._service_pool: list[Any] = []
        self._bind_pool: list[Any] = []

    @property
    def _attrlist(self) -> list[str]:
        mapping = self._config.attributes
        names = [
            mapping.id,
            mapping.display_name,
            mapping.given_name,
            mapping.surname,
            mapping.class_,
            mapping.level,
            mapping.school,
            self._config.roles.attribute,
        ]
        return [name for name in names if name]

    def _connect(self) -> Any:
        cfg = self._config
        conn = ldap.initialize(cfg.uri)
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, cfg.timeout_seconds)
        conn.set_option(ldap.OPT_TIMEOUT, cfg.timeout_seconds)
        if cfg.ca_file is not None:
            conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(cfg.ca_file))
        conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
        conn.set_option(ldap.OPT_X_TLS_PROTOCOL_MIN, ldap.OPT_X_TLS_PROTOCOL_TLS1_2)
        # NEWCTX must come last: it freezes the TLS options set above.
        conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
        try:
            if cfg.security == "starttls":
                conn.start_tls_s()
        except _UNREACHABLE as err:
            raise DirectoryUnreachable(self._describe(err)) from err
        except ldap.LDAPError as err:
            raise DirectoryUnreachable(f"TLS: {self._describe(err)}") from err
        return conn

    @staticmethod
    def _describe(err: BaseException) -> str:
        if err.args and isinstance(err.args[0], dict):
            info = err.args[0]
            return str(info.get("info") or info.get("desc") or err)
        return str(err)

    def _service_connection(self) -> Any:
        conn = self._connect()
        try:
            conn.simple_bind_s(self._config.bind_dn, self._service_password)
        except _UNREACHABLE as err:
            raise DirectoryUnreachable(self._describe(err)) from err
        except ldap.INVALID_CREDENTIALS as err:
            raise DirectoryError("the service account was refused (bind_dn / password)") from err
        except ldap.LDAPError as err:
            raise DirectoryError(self._describe(err)) from err
        return conn

    def ping(self) -> None:
        """Connect, bind as the service account and disconnect (raises on failure)."""
        self._service_connection().unbind_s()

    def _groups_of(self, conn: Any, dn: str) -> list[str]:
        cfg = self._config
        member = ldap.filter.escape_filter_chars(dn)
        member_filter = f"(&{cfg.group_filter}({cfg.group_member_attribute}={member}))"
        results = conn.search_s(
            cfg.group_base_dn or cfg.base_dn, ldap.SCOPE_SUBTREE, member_filter, ["cn"]
        )
        return [found_dn for found_dn, _ in results if found_dn]

    def _pooled(self, pool: list[Any], service: bool, use: Callable[[Any], _T]) -> _T:
        """Run ``use`` on a kept connection; a dropped one is replaced once, then it fails.

        Logins reuse their TLS connections: two handshakes per login (service
        search, user bind) cost more than the rest of the login together.
        """
        for attempt in (0, 1):
            with self._pool_lock:
                conn = pool.pop() if pool else None
            if conn is None:
                conn = self._service_connection() if service else self._connect()
            try:
                result = use(conn)
            except _UNREACHABLE as err:
                with contextlib.suppress(ldap.LDAPError):
                    conn.unbind_s()
                if attempt:
                    raise DirectoryUnreachable(self._describe(err)) from err
                continue
            except BaseException:
                with contextlib.suppress(ldap.LDAPError):
                    conn.unbind_s()
                raise
            with self._pool_lock:
                if len(pool) < _POOL_SIZE:
                    pool.append(conn)
                    conn = None
            if conn is not None:
                conn.unbind_s()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def authenticate(self, login: str, password: str) -> Person | None:
        """Return the person if ``password`` binds as ``login``, else None."""
        # An empty password would be an anonymous bind that "succeeds" (RFC 4513 §5.1.2).
        if not login or not password:
            return None
        cfg = self._config
        search = cfg.user_filter.replace("{login}", ldap.filter.escape_filter_chars(login))

        def find(service: Any) -> list[tuple[str, Any]]:
            found = service.search_s(cfg.base_dn, ldap.SCOPE_SUBTREE, search, self._attrlist)
            return [(dn, attrs) for dn, attrs in found if dn]

        results = self._pooled(self._service_pool, True, find)
        if len(results) != 1:
            return None
        dn, attrs = results[0]

        def bind(user: Any) -> bool:
            # A kept connection is re-bound for each login: a bind replaces the identity.
            try:
                user.simple_bind_s(dn, password)
            except ldap.INVALID_CREDENTIALS:
                return False
            return True

        if not self._pooled(self._bind_pool, False, bind):
            return None
        groups = self._pooled(self._service_pool, True, lambda conn: self._groups_of(conn, dn))
        return person_from_entry(attrs, groups, cfg, self._default_school)

    def fetch_all(self) -> tuple[list[Person], list[DirectoryGroup]]:
        """Read everybody and every group (the sync job's snapshot)."""
        cfg = self._config
        conn = self._service_connection()
        try:
            try:
                groups_raw = conn.search_s(
                    cfg.group_base_dn or cfg.base_dn,
                    ldap.SCOPE_SUBTREE,
                    cfg.group_filter,
                    ["cn", cfg.group_member_attribute],
                )
                people_raw = conn.search_s(
                    cfg.base_dn, ldap.SCOPE_SUBTREE, cfg.people_filter, self._attrlist
                )
            except _UNREACHABLE as err:
                raise DirectoryUnreachable(self._describe(err)) from err
            except ldap.LDAPError as err:
                raise DirectoryError(self._describe(err)) from err
        finally:
            conn.unbind_s()
        groups: list[DirectoryGroup] = []
        member_of: dict[str, list[str]] = {}
        for dn, attrs in groups_raw:
            if not dn:
                continue
            members = tuple(_all(attrs, cfg.group_member_attribute))
            groups.append(DirectoryGroup(dn=dn, name=_first(attrs, "cn") or dn, member_dns=members))
            for member in members:
                member_of.setdefault(member.lower(), []).append(dn)
        people: list[Person] = []
        for dn, attrs in people_raw:
            if not dn:
                continue
            person = person_from_entry(
                attrs, member_of.get(dn.lower(), []), cfg, self._default_school
            )
            if person is not None:
                people.append(person)
        return people, groups

"""LDAP / Active Directory backend (#5.19, #5.27, #7.54).

python-ldap is a blocking C extension: every public method here blocks and is
called through the bounded executor by :mod:`appliance.identity.directory`.
Connections always use StartTLS or LDAPS with certificate checking; there is no
cleartext option. A password is checked by binding as the person, never by
reading a hash. Only the attributes of CARMO table 9 are requested (#7.53).

At a school's scale (issue #13): the sync reads in pages (RFC 2696), so a
server's size limit (slapd's default 500, Active Directory's 1,000 a page)
does not cut the school short. slapd counts the pages too (its
``size.prtotal`` defaults to the hard limit): when a paged search is still
refused, the search is split by the first letters of the entries' names
(``uid=a*`` … ``uid=9*``, then ``uid=e0*`` … where a part is still too big,
and the rest that no prefix names), which needs no change on the server. A
group Active Directory sends in ranges (``member;range=0-1499``) is read to
its end; groups inside groups count
(a person in "6A" inside "eleves" is a pupil). A teacher's classes come from
an attribute (AAF's ENTAuxEnsClasses) or from the groups listing a class's
teachers (Scribe's ``profs-6a``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

import ldap
import ldap.dn
import ldap.filter
from ldap.controls import SimplePagedResultsControl

from appliance.config import LdapConfig
from appliance.identity.model import (
    DirectoryError,
    DirectoryGroup,
    DirectoryUnreachable,
    Person,
    role_from_directory,
)

_LOGGER = logging.getLogger(__name__)

_T = TypeVar("_T")
# First letters a search is split by when the server refuses more entries;
# what starts otherwise is read by one more search (the rest).
_PREFIXES: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
_MAX_SPLIT_DEPTH: Final = 32  # names sharing a long prefix (eleve0001…) go deeper
_POOL_SIZE: Final = 8  # kept TLS connections per kind, at most
_UNREACHABLE = (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR, ldap.TIMELIMIT_EXCEEDED)


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


def group_name(dn: str) -> str:
    """Return the value of a DN's first part (``cn=profs-6a,ou=groups`` → ``profs-6a``)."""
    try:
        return str(ldap.dn.str2dn(dn)[0][0][1])
    except (ldap.DECODING_ERROR, IndexError):
        return dn


def taught_classes(
    attrs: Mapping[str, Sequence[bytes]], group_dns: Iterable[str], config: LdapConfig
) -> tuple[str, ...]:
    """Return the classes an entry teaches: its classes attribute, then its teachers' groups."""
    found: list[str] = []
    for value in _all(attrs, config.attributes.teacher_classes):
        # AAF writes "UAI$class"; a plain class name is kept as it is.
        name = value.rsplit("$", 1)[-1].strip()
        if name:
            found.append(name)
    pattern = config.class_teachers_group
    if pattern and "{class}" in pattern:
        before, _, after = pattern.partition("{class}")
        shape = re.compile(f"^{re.escape(before)}(.+){re.escape(after)}$", re.IGNORECASE)
        for dn in group_dns:
            match = shape.match(group_name(dn))
            if match:
                found.append(match.group(1))
    return tuple(dict.fromkeys(found))


def ranged_values(attrs: Mapping[str, Sequence[bytes]], name: str) -> tuple[list[str], int | None]:
    """Return the values of ``name`` an entry holds and, if the server sent a range, where
    the next range starts (Active Directory's ``member;range=0-1499``; ``*`` ends it)."""
    prefix = f"{name.lower()};range="
    for key, values in attrs.items():
        if key.lower().startswith(prefix):
            last = key[len(prefix) :].split("-", 1)[-1]
            return _text(values), None if last == "*" else int(last) + 1
    return _all(attrs, name), None


def containing_groups(direct: Mapping[str, Sequence[str]], start: Iterable[str]) -> list[str]:
    """Return the groups listing any of ``start`` directly or through other groups.

    ``direct`` maps a lower-case DN to the DNs of the groups listing it. A
    cycle of groups (A in B in A) ends the walk instead of looping.
    """
    found: dict[str, str] = {}
    pending = [dn.lower() for dn in start]
    while pending:
        for group in direct.get(pending.pop(), ()):
            if group.lower() not in found:
                found[group.lower()] = group
                pending.append(group.lower())
    return list(found.values())


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
        teaches=taught_classes(attrs, groups, config) if role != "pupil" else (),
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
            mapping.teacher_classes,
        ]
        return [name for name in names if name]

    def _search_all(
        self, conn: Any, base: str, filterstr: str, attrs: list[str], name: str
    ) -> list[tuple[str, Any]]:
        """Return every entry under ``base``: in pages, split by first letters if need be."""
        try:
            return self._paged(conn, base, filterstr, attrs)
        except ldap.SIZELIMIT_EXCEEDED:
            _LOGGER.info(
                "The directory limits how many entries a search returns: reading %s by the"
                " first letters of %s (a limits rule for the service account avoids it)",
                filterstr, name,
            )  # fmt: skip
            return self._split(conn, base, filterstr, attrs, name, "", 1)

    def _split(
        self, conn: Any, base: str, filterstr: str, attrs: list[str], name: str, prefix: str,
        depth: int,
    ) -> list[tuple[str, Any]]:  # fmt: skip
        """Return the entries whose ``name`` starts with ``prefix``, one search per next letter."""
        start = ldap.filter.escape_filter_chars(prefix)
        parts = [(f"({name}={start}{ldap.filter.escape_filter_chars(c)}*)", prefix + c)
                 for c in _PREFIXES]  # fmt: skip
        under = f"({name}={start}*)" if prefix else ""
        rest = f"(&{filterstr}{under}(!(|{''.join(part for part, _ in parts)})))"
        found: list[tuple[str, Any]] = []
        for part_filter, longer in [*((f"(&{filterstr}{p})", n) for p, n in parts), (rest, "")]:
            try:
                found += self._paged(conn, base, part_filter, attrs)
            except ldap.SIZELIMIT_EXCEEDED:
                if not longer or depth >= _MAX_SPLIT_DEPTH:
                    raise
                found += self._split(conn, base, filterstr, attrs, name, longer, depth + 1)
        return found

    def _paged(
        self, conn: Any, base: str, filterstr: str, attrs: list[str]
    ) -> list[tuple[str, Any]]:
        """Return every entry under ``base``, page by page (RFC 2696)."""
        page = SimplePagedResultsControl(True, size=self._config.page_size, cookie="")
        found: list[tuple[str, Any]] = []
        while True:
            message = conn.search_ext(
                base, ldap.SCOPE_SUBTREE, filterstr, attrs, serverctrls=[page]
            )
            _kind, data, _message, controls = conn.result3(message)
            found += [(dn, entry) for dn, entry in data if dn]  # a referral has no DN
            cookie = next((c.cookie for c in controls if c.controlType == page.controlType), b"")
            if not cookie:
                return found
            page.cookie = cookie

    def _all_members(self, conn: Any, dn: str, attrs: Mapping[str, Sequence[bytes]]) -> list[str]:
        """Return a group's members, asking for the next ranges while the server sends ranges."""
        name = self._config.group_member_attribute
        members, following = ranged_values(attrs, name)
        while following is not None:
            asked = f"{name};range={following}-*"
            entries = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", [asked])
            more, following = ranged_values(entries[0][1] if entries else {}, name)
            if not more:
                break
            members += more
        return members

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
        """Return the groups listing ``dn``, directly or through groups inside groups."""
        cfg = self._config
        found: dict[str, str] = {}
        level = [dn]
        # One search per level of nesting (usually two), not one per group.
        for _depth in range(8):
            if not level:
                break
            members = "".join(
                f"({cfg.group_member_attribute}={ldap.filter.escape_filter_chars(member)})"
                for member in level
            )
            results = conn.search_s(
                cfg.group_base_dn or cfg.base_dn,
                ldap.SCOPE_SUBTREE,
                f"(&{cfg.group_filter}(|{members}))",
                ["cn"],
            )
            level = []
            for found_dn, _ in results:
                if found_dn and found_dn.lower() not in found:
                    found[found_dn.lower()] = found_dn
                    level.append(found_dn)
        return list(found.values())

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
                groups_raw = self._search_all(
                    conn,
                    cfg.group_base_dn or cfg.base_dn,
                    cfg.group_filter,
                    ["cn", cfg.group_member_attribute],
                    "cn",
                )
                groups = [
                    DirectoryGroup(
                        dn=dn,
                        name=_first(attrs, "cn") or group_name(dn),
                        member_dns=tuple(self._all_members(conn, dn, attrs)),
                    )
                    for dn, attrs in groups_raw
                ]
                people_raw = self._search_all(
                    conn, cfg.base_dn, cfg.people_filter, self._attrlist, cfg.attributes.id
                )
            except _UNREACHABLE as err:
                raise DirectoryUnreachable(self._describe(err)) from err
            except ldap.LDAPError as err:
                raise DirectoryError(self._describe(err)) from err
        finally:
            conn.unbind_s()
        direct: dict[str, list[str]] = {}
        for group in groups:
            for member in group.member_dns:
                direct.setdefault(member.lower(), []).append(group.dn)
        people: list[Person] = []
        for dn, attrs in people_raw:
            person = person_from_entry(
                attrs, containing_groups(direct, [dn]), cfg, self._default_school
            )
            if person is not None:
                people.append(person)
        return people, groups

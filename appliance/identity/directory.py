"""The identity facade every service uses: log in, look people up, sync.

Local accounts are checked first (argon2id), then the LDAP directory (a user
bind). The LDAP directory's people, classes and groups are cached in the state
DB by :meth:`Directory.sync`, so pages and policies keep working while the
directory is down; sessions are the appliance's own, so people already logged
in stay logged in.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from appliance.audit import utc_now_iso
from appliance.config import PreauConfig, Role
from appliance.executor import BlockingExecutor
from appliance.i18n import N_
from appliance.identity import passwords
from appliance.identity.model import (
    DirectoryError,
    DirectoryGroup,
    DirectoryUnreachable,
    Person,
    effective_role,
)
from appliance.identity.people_state import ensure_class, replace_teaching, upsert_person
from appliance.problems import UserError
from appliance.state.db import StateDB

if TYPE_CHECKING:
    from appliance.identity.ldap_directory import LdapDirectory

_LOGGER = logging.getLogger(__name__)

DIRECTORY_TOPIC: Final = "directory"

LoginFailure = Literal["bad_credentials", "directory_unreachable", "departed"]


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """What a login attempt gave: a person with an effective role, or a failure."""

    person: Person | None
    role: Role | None = None
    failure: LoginFailure | None = None


@dataclass(frozen=True, slots=True)
class DirectoryStatus:
    """Reachability of the configured directory, as last checked."""

    status: Literal["ok", "down", "disabled"]
    detail: str
    checked_at: float


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What a directory sync changed."""

    people: int
    groups: int
    departed: int
    returned: int


class IdentityError(UserError):
    """A change to people or their links that cannot be made (the field, the reason)."""


def _read_secret(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise DirectoryError(f"identity.ldap.bind_password_file: {path}: {err}") from err


class Directory:
    """Authenticate people and keep the cached copy of the directory."""

    def __init__(self, config: PreauConfig, db: StateDB, executor: BlockingExecutor) -> None:
        """Wire the facade; nothing connects until used."""
        self._config = config
        self._db = db
        self._executor = executor
        self._hasher = passwords.hasher_for(config.identity.local.hash_profile)
        self._dummy_hash: str | None = None
        self._ldap: LdapDirectory | None = None
        self.status = DirectoryStatus(
            "disabled" if not config.identity.ldap.enabled else "ok", "", 0.0
        )

    async def hash_password(self, password: str) -> str:
        """Return a new password's hash (argon2id, in the executor)."""
        passwords.check_policy(password)
        return await self._executor.run(self._hasher.hash, password)

    @property
    def default_school(self) -> str:
        """Return the UAI of the first configured school."""
        return self._config.site.schools[0].uai

    def _ldap_client(self) -> LdapDirectory | None:
        cfg = self._config.identity.ldap
        if not cfg.enabled:
            return None
        if self._ldap is None:
            # python-ldap is imported only where a directory is bound (15 MB a process).
            from appliance.identity.ldap_directory import LdapDirectory

            self._ldap = LdapDirectory(
                cfg, _read_secret(cfg.bind_password_file), self.default_school
            )
        return self._ldap

    # -- health ----------------------------------------------------------------

    async def check_health(self) -> DirectoryStatus:
        """Check that the directory answers a service bind; remember the result."""
        client = self._ldap_client()
        if client is None:
            self.status = DirectoryStatus("disabled", "local accounts only", time.time())
            return self.status
        try:
            await self._executor.run(client.ping)
        except DirectoryError as err:
            self._mark_down(str(err))
        else:
            if self.status.status != "ok":
                _LOGGER.info("Directory reachable again")
            self.status = DirectoryStatus("ok", self._config.identity.ldap.uri, time.time())
        return self.status

    def _mark_down(self, detail: str) -> None:
        if self.status.status != "down":
            _LOGGER.warning("Directory unreachable: %s", detail)
        self.status = DirectoryStatus("down", detail, time.time())

    # -- login -------------------------------------------------------------------

    async def authenticate(self, login: str, password: str) -> LoginOutcome:
        """Check a login and password against local accounts, then the directory."""
        login = login.strip()
        row = await self._db.fetchone(
            "SELECT p.*, a.password_hash FROM people p JOIN local_accounts a"
            " ON a.person_id = p.id WHERE p.id = ?",
            (login,),
        )
        if row is not None and self._config.identity.local.enabled:
            ok = await self._executor.run(
                passwords.verify, self._hasher, row["password_hash"], password
            )
            if not ok:
                return LoginOutcome(None, failure="bad_credentials")
            if row["departed_at"]:
                return LoginOutcome(None, failure="departed")
            person = _person_from_row(row)
            return LoginOutcome(person, role=await self.role_of(person))
        client = self._ldap_client()
        if client is None:
            await self._equalise_timing(password)
            return LoginOutcome(None, failure="bad_credentials")
        try:
            found = await self._executor.run(client.authenticate, login, password)
        except DirectoryUnreachable as err:
            self._mark_down(str(err))
            return LoginOutcome(None, failure="directory_unreachable")
        except DirectoryError as err:
            self._mark_down(str(err))
            return LoginOutcome(None, failure="directory_unreachable")
        if found is None:
            return LoginOutcome(None, failure="bad_credentials")
        # Written only when the directory says something new: a durable commit
        # per login serialised the morning rush (200 fsyncs) and wore the disk.
        stored = await self._db.fetchone("SELECT * FROM people WHERE id = ?", (found.id,))
        if not _same_person(stored, found):
            async with self._db.write() as tx:
                await upsert_person(tx, found)
        return LoginOutcome(found, role=await self.role_of(found))

    async def _equalise_timing(self, password: str) -> None:
        # Verify against a real hash so that an unknown login costs as much as
        # a known one (no account enumeration by timing).
        if self._dummy_hash is None:
            self._dummy_hash = await self._executor.run(passwords.dummy_hash, self._hasher)
        await self._executor.run(passwords.verify, self._hasher, self._dummy_hash, password)

    async def role_of(self, person: Person) -> Role:
        """Return the person's role including what was delegated to them (#5.25)."""
        rows = await self._db.fetchall(
            "SELECT role, school_uai FROM role_grants WHERE person_id = ?", (person.id,)
        )
        grants: dict[str, list[Role]] = {}
        for row in rows:
            grants.setdefault(row["school_uai"], []).append(row["role"])
        return effective_role(person.role, grants, person.school_uai)

    async def person(self, person_id: str) -> Person | None:
        """Return the cached person with that id."""
        row = await self._db.fetchone("SELECT * FROM people WHERE id = ?", (person_id,))
        return _person_from_row(row) if row else None

    async def teaching(self) -> list[dict[str, object]]:
        """Return every teacher↔class link, with where it comes from."""
        rows = await self._db.fetchall(
            "SELECT t.person_id, p.display_name, t.class_name, t.source FROM teaching t"
            " JOIN people p ON p.id = t.person_id ORDER BY p.surname, p.display_name, t.class_name"
        )
        return [dict(row) for row in rows]

    async def set_classes_taught(self, person_id: str, classes: list[str]) -> None:
        """Replace the referent's own links of a teacher (the directory's stay).

        Raises :class:`IdentityError` naming an unknown person or class.
        """
        person = await self.person(person_id)
        if person is None:
            raise IdentityError(N_("person_id : personne inconnue (%(id)s)"), id=person_id)
        rows = await self._db.fetchall(
            "SELECT name FROM groups WHERE kind = 'class' AND school_uai = ?",
            (person.school_uai,),
        )
        known = {row["name"] for row in rows}
        for name in classes:
            if name not in known:
                raise IdentityError(N_("classes : aucune classe « %(name)s »"), name=name)
        async with self._db.write() as tx:
            await tx.execute(
                "DELETE FROM teaching WHERE person_id = ? AND source = 'local'", (person_id,)
            )
            await tx.executemany(
                "INSERT OR IGNORE INTO teaching (person_id, school_uai, class_name, source)"
                " VALUES (?, ?, ?, 'local')",
                [(person_id, person.school_uai, name) for name in dict.fromkeys(classes)],
            )
            await tx.notify(DIRECTORY_TOPIC)

    async def links_from(self, source: str) -> set[tuple[str, str]]:
        """Return the (person, class) links one source gave."""
        rows = await self._db.fetchall(
            "SELECT person_id, class_name FROM teaching WHERE source = ?", (source,)
        )
        return {(row["person_id"], row["class_name"]) for row in rows}

    async def replace_links(self, source: str, classes_of: dict[str, set[str]]) -> None:
        """Replace every link ``source`` gave (the STS-Web export's, say) by these."""
        people = [
            Person(person.id, person.source, person.display_name, person.role,
                   person.school_uai, teaches=tuple(sorted(classes_of[person.id])))
            for person_id in sorted(classes_of)
            if (person := await self.person(person_id)) is not None
        ]  # fmt: skip
        async with self._db.write() as tx:
            await replace_teaching(tx, people, source=source)
            await tx.notify(DIRECTORY_TOPIC)

    async def classes(self) -> list[str]:
        """Return the school's classes, in order."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT name FROM groups WHERE kind = 'class' ORDER BY name"
        )
        return [row["name"] for row in rows]

    async def group_names(self) -> list[str]:
        """Return the directory's groups that are not classes, sorted."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT name FROM groups WHERE kind != 'class' ORDER BY name"
        )
        return [row["name"] for row in rows]

    async def has_class(self, name: str) -> bool:
        """Return whether the school has a class of that name."""
        row = await self._db.fetchone(
            "SELECT 1 FROM groups WHERE kind = 'class' AND name = ? LIMIT 1", (name,)
        )
        return row is not None

    async def roster(self, class_name: str) -> dict[str, str]:
        """Return the class's pupils in the school now: account → name shown, by surname."""
        rows = await self._db.fetchall(
            "SELECT id, display_name FROM people WHERE role = 'pupil' AND class_name = ?"
            " AND departed_at IS NULL ORDER BY surname, given_name, display_name",
            (class_name,),
        )
        return {row["id"]: row["display_name"] for row in rows}

    async def classes_in_charge(self, person_id: str, role: str) -> list[str]:
        """Return the classes someone acts on: a teacher's own, every class for the referent."""
        if role == "referent":
            return await self.classes()
        if role == "teacher":
            return await self.classes_taught(person_id)
        return []

    async def classes_taught(self, person_id: str) -> list[str]:
        """Return the classes a teacher teaches, from every source, in order."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT class_name FROM teaching WHERE person_id = ? ORDER BY class_name",
            (person_id,),
        )
        return [row["class_name"] for row in rows]

    # -- local accounts ----------------------------------------------------------

    async def add_local_person(self, person: Person, password: str) -> None:
        """Create or replace a local account with its password (argon2id)."""
        password_hash = await self.hash_password(password)
        async with self._db.write() as tx:
            await upsert_person(tx, person)
            await tx.execute(
                "INSERT INTO local_accounts (person_id, password_hash, changed_at)"
                " VALUES (?, ?, ?) ON CONFLICT (person_id) DO UPDATE SET"
                " password_hash = excluded.password_hash, changed_at = excluded.changed_at",
                (person.id, password_hash, utc_now_iso()),
            )
            if person.class_name:
                await ensure_class(tx, person, source="local")
            await tx.execute(
                "DELETE FROM teaching WHERE person_id = ? AND source = 'local'", (person.id,)
            )
            await tx.executemany(
                "INSERT OR IGNORE INTO teaching (person_id, school_uai, class_name, source)"
                " VALUES (?, ?, ?, 'local')",
                [(person.id, person.school_uai, name) for name in person.teaches],
            )
            # A new password ends the sessions opened with the old one (ASVS V7.4.3).
            await tx.execute(
                "UPDATE sessions SET revoked_at = ? WHERE person_id = ? AND revoked_at IS NULL",
                (time.time(), person.id),
            )
            await tx.notify(DIRECTORY_TOPIC)

    async def change_local_password(self, person_id: str, password: str, keep: str) -> bool:
        """Set a local account's new password; end its other sessions (``keep`` stays).

        Return False when ``person_id`` is not a local account. The caller has
        checked the current password and the policy.
        """
        password_hash = await self.hash_password(password)
        async with self._db.write() as tx:
            changed = await tx.execute(
                "UPDATE local_accounts SET password_hash = ?, changed_at = ? WHERE person_id = ?",
                (password_hash, utc_now_iso(), person_id),
            )
            if not changed:
                return False
            # Sessions opened with the old password end (ASVS V7.4.3); this one stays.
            await tx.execute(
                "UPDATE sessions SET revoked_at = ? WHERE person_id = ? AND revoked_at IS NULL"
                " AND token_hash != ?",
                (time.time(), person_id, keep),
            )
        return True

    async def is_local(self, person_id: str) -> bool:
        """Return whether the person's password is kept on the box (a local account)."""
        row = await self._db.fetchone(
            "SELECT 1 FROM local_accounts WHERE person_id = ?", (person_id,)
        )
        return row is not None

    # -- sync --------------------------------------------------------------------

    async def sync(self, progress: Callable[[int, int], None] | None = None) -> SyncReport:
        """Copy the directory into the state DB; mark people who vanished as departed."""
        client = self._ldap_client()
        if client is None:
            raise DirectoryError("identity.ldap.enabled is false: nothing to sync")
        try:
            people, groups = await self._executor.run(client.fetch_all)
        except DirectoryError as err:
            self._mark_down(str(err))
            raise
        self.status = DirectoryStatus("ok", self._config.identity.ldap.uri, time.time())
        return await self._store_snapshot(people, groups, progress)

    async def _store_snapshot(
        self,
        people: list[Person],
        groups: list[DirectoryGroup],
        progress: Callable[[int, int], None] | None,
    ) -> SyncReport:
        known = await self._db.fetchall("SELECT id, departed_at FROM people WHERE source = 'ldap'")
        present = {person.id for person in people}
        active_before = {row["id"] for row in known if row["departed_at"] is None}
        if not people and active_before:
            # A wrong filter or an emptied OU must not mark a whole school departed.
            raise DirectoryError(
                f"the directory returned nobody; refusing to mark {len(active_before)} "
                "people departed (check identity.ldap.base_dn and people_filter)"
            )
        today = dt.datetime.now(self._config.site.zone).date().isoformat()
        departed = sorted(active_before - present)
        returned = {row["id"] for row in known if row["departed_at"] is not None} & present
        total = len(people)
        async with self._db.write() as tx:
            for index, person in enumerate(people, start=1):
                await upsert_person(tx, person)
                if person.class_name:
                    await ensure_class(tx, person, source="ldap")
                if progress is not None:
                    progress(index, total)
            for person_id in departed:
                await tx.execute(
                    "UPDATE people SET departed_at = ? WHERE id = ?", (today, person_id)
                )
            await replace_teaching(tx, people, source="ldap")
            await tx.execute(
                "DELETE FROM memberships WHERE group_id IN"
                " (SELECT id FROM groups WHERE source = 'ldap' AND kind = 'group')"
            )
            await tx.execute("DELETE FROM groups WHERE source = 'ldap' AND kind = 'group'")
            await tx.executemany(
                "INSERT INTO groups (id, name, kind, school_uai, source)"
                " VALUES (?, ?, 'group', ?, 'ldap')",
                [(f"ldap:{g.dn.lower()}", g.name, self.default_school) for g in groups],
            )
            # Person.groups holds the DNs of the groups listing the person.
            await tx.executemany(
                "INSERT OR IGNORE INTO memberships (group_id, person_id)"
                " SELECT ?, ? WHERE EXISTS (SELECT 1 FROM groups WHERE id = ?)",
                [
                    (f"ldap:{dn.lower()}", person.id, f"ldap:{dn.lower()}")
                    for person in people
                    for dn in person.groups
                ],
            )
            await tx.notify(DIRECTORY_TOPIC)
        _LOGGER.info(
            "Directory sync: %d people, %d groups, %d departed", total, len(groups), len(departed)
        )
        return SyncReport(
            people=total, groups=len(groups), departed=len(departed), returned=len(returned)
        )


def _same_person(row: sqlite3.Row | None, person: Person) -> bool:
    """Say whether the stored row already holds ``person`` (and not as departed)."""
    if row is None or row["departed_at"] is not None:
        return False
    return _person_from_row(row) == replace(person, groups=(), teaches=())


def _person_from_row(row: sqlite3.Row) -> Person:
    return Person(
        id=row["id"],
        source=row["source"],
        display_name=row["display_name"],
        role=row["role"],
        school_uai=row["school_uai"],
        given_name=row["given_name"],
        surname=row["surname"],
        class_name=row["class_name"],
        level=row["level"],
    )

"""The life of spaces: retrieval codes for leavers, class roll-over, erasure."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import shutil
import time
from collections.abc import Awaitable, Callable

from storage import vault
from storage.config import ProductionsConfig
from storage.personnel import (
    Index,
    PersonnelSpace,
    space_folder,
)
from storage.reading import Reading
from storage.store_base import (
    _write_zip,
)

_LOGGER = logging.getLogger(__name__)


class Lifecycle(Reading):
    """The life of spaces: retrieval codes for leavers, class roll-over, erasure."""

    async def create_retrieval_code(
        self, person: str, *, actor: str, reason: str = ""
    ) -> tuple[str, float]:
        """Make a code letting someone who left download their work (#8.21); shown once."""
        code = vault.new_recovery_code()[:23]  # 4 groups of 5: about 99 bits
        expires = (
            time.time() + self.core.config.section(ProductionsConfig).departed_grace_days * 86_400
        )
        digest = hashlib.sha256(vault.normalise_code(code).encode()).hexdigest()
        async with self.core.db.write() as tx:
            await tx.execute(
                "INSERT INTO retrieval_codes (code_hash, person_id, created_by, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?)",
                (digest, person, actor, time.time(), expires),
            )
        await self.core.audit.record(
            actor=actor,
            source="web",
            action="productions.retrieval_code",
            target=person,
            outcome="success",
            detail=reason or "departed",
        )
        return code, expires

    async def person_of_retrieval_code(self, code: str) -> str | None:
        """Return whose work a code opens, if it is valid and unexpired."""
        digest = hashlib.sha256(vault.normalise_code(code).encode()).hexdigest()
        row = await self.core.db.fetchone(
            "SELECT person_id FROM retrieval_codes WHERE code_hash = ? AND expires_at > ?",
            (digest, time.time()),
        )
        return None if row is None else str(row["person_id"])

    async def export_for_retrieval(
        self,
        person: str,
        identity: str | None,
        send: Callable[[bytes | bytearray], Awaitable[None]],
    ) -> None:
        """Stream a person's work: the pedagogical space, and PERSONNEL with its identity."""
        personnel: tuple[PersonnelSpace, str, Index] | None = None
        if identity is not None:
            space = await self._personnel(person)
            index = await self.core.executor.run(space.load_index, identity)
            personnel = (space, identity, index)
        await self._pump(_write_zip, self._pedagogical(person), personnel, send=send)

    async def roll_classes_over(self, *, actor: str) -> int:
        """Start a school year: last year's class areas and assignments go to an archive.

        Distribution and Rendus of every class move, in one rename each, to
        ``productions/classes-archive/<date>/`` (backed up with the rest, and
        erased with :meth:`purge_class_archives` after the grace period);
        assignments are closed. Pupils' classes themselves come from the
        directory's sync.
        """
        classes_root = self.root / "classes"
        archive = self.root / "classes-archive" / dt.date.today().isoformat()

        def move() -> int:
            if not classes_root.exists():
                return 0
            archive.mkdir(parents=True, exist_ok=True)
            moved = 0
            for folder in sorted(classes_root.iterdir()):
                if folder.is_dir():
                    folder.rename(archive / folder.name)
                    moved += 1
            return moved

        async with self._lock("class-rollover"):
            moved = await self.core.executor.run(move)
            async with self.core.db.write() as tx:
                await tx.execute("DELETE FROM assignments")
        await self.core.audit.record(
            actor=actor,
            source="cli",
            action="classes.rollover",
            outcome="success",
            detail=f"{moved} classes archived",
        )
        return moved

    async def purge_class_archives(self, now: float | None = None) -> int:
        """Erase class archives older than the departed grace period."""
        grace = self.core.config.section(ProductionsConfig).departed_grace_days
        cutoff = dt.date.fromtimestamp((time.time() if now is None else now) - grace * 86_400)
        root = self.root / "classes-archive"

        def purge() -> int:
            if not root.exists():
                return 0
            removed = 0
            for folder in root.iterdir():
                try:
                    day = dt.date.fromisoformat(folder.name)
                except ValueError:
                    continue
                if day < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
            return removed

        return int(await self.core.executor.run(purge))

    async def erase_departed(self, now: float | None = None) -> list[str]:
        """Erase both spaces of people gone longer than the grace period (#8.21)."""
        grace = self.core.config.section(ProductionsConfig).departed_grace_days
        cutoff = dt.datetime.fromtimestamp(
            (time.time() if now is None else now) - grace * 86_400, dt.UTC
        ).strftime("%Y-%m-%dT%H:%M:%S")
        rows = await self.core.db.fetchall(
            "SELECT id FROM people WHERE departed_at IS NOT NULL AND departed_at < ?"
            " AND (id IN (SELECT user FROM storage_usage)"
            " OR id IN (SELECT user FROM personnel_keys))",
            (cutoff,),
        )
        erased = []
        for row in rows:
            user = str(row["id"])
            await self.erase_personnel(user, actor="preau", source="lifecycle")
            folder = self._pedagogical(user).folder
            await self.core.executor.run(
                functools.partial(shutil.rmtree, folder, ignore_errors=True)
            )
            async with self.core.db.write() as tx:
                await tx.execute("DELETE FROM storage_usage WHERE user = ?", (user,))
            erased.append(user)
        return erased

    async def erase_personnel(self, user: str, *, actor: str, source: str) -> None:
        """Destroy PERSONNEL for good: its key, then its files (#7.29, #7.33, #7.34)."""
        async with self._lock(user):
            async with self.core.db.write() as tx:
                await tx.execute("DELETE FROM personnel_keys WHERE user = ?", (user,))
                await tx.execute(
                    "DELETE FROM storage_usage WHERE user = ? AND space = 'personnel'", (user,)
                )
            for hashed, unlocked in list(self.keyring.sessions.items()):
                if unlocked.user == user:
                    self.keyring.forget(hashed)
            folder = space_folder(self.root / "personnel", user)
            await self.core.executor.run(
                functools.partial(shutil.rmtree, folder, ignore_errors=True)
            )
        await self.core.audit.record(
            actor=actor, source=source, action="personnel.erase", target=user, outcome="success"
        )

"""What every part of the productions store shares: locks, spaces, usage, helpers."""

from __future__ import annotations

import asyncio
import io
import logging
import queue
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Literal

from appliance.atomic import fsync_directory
from appliance.i18n import N_
from appliance.problems import UserPermissionError
from storage import vault
from storage.config import ProductionsConfig
from storage.pedagogical import PedagogicalSpace
from storage.personnel import (
    Index,
    PersonnelSpace,
    SpaceError,
)

if TYPE_CHECKING:
    from appliance.core import Core

_LOGGER = logging.getLogger(__name__)


Space = Literal["pedagogical", "personnel"]
SPACES: Final[tuple[Space, ...]] = ("pedagogical", "personnel")
USAGE_TOPIC: Final = "productions.usage"
_QUEUE_CHUNKS: Final = 8
_HAND_OVER_BYTES: Final = 1 << 20
_DONE: Final = object()


LOCKED: Final = N_(
    "Votre espace PERSONNEL est verrouillé : saisissez votre ancien mot de passe "
    "ou votre code de secours."
)


class LockedError(UserPermissionError):
    """PERSONNEL is locked for this session (the password changed in the directory)."""

    def __init__(self) -> None:
        """Say how to open it."""
        super().__init__(LOCKED)


class HeldForScan(Exception):
    """clamd is down and the policy is "hold": the upload waits, unseen, for a scan."""

    def __init__(self, size: int) -> None:
        """Say how much was received."""
        super().__init__(f"held for scanning: {size} bytes")
        self.size = size


class InfectedError(SpaceError):
    """clamd found a virus: the upload is refused and nothing is stored."""

    def __init__(self, signature: str) -> None:
        """Name what was found."""
        super().__init__(
            N_("Fichier refusé : l'antivirus y a trouvé %(signature)s."), signature=signature
        )
        self.signature = signature


@dataclass(slots=True)
class Unlocked:
    """A web session's open PERSONNEL."""

    user: str
    identity: str | None  # None: locked until the old password or a code
    recovery_code: str = ""  # shown once, right after the keys were made
    opened_at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class Keyring:
    """PERSONNEL identities of live web sessions, in memory only."""

    sessions: dict[str, Unlocked] = field(default_factory=dict)

    def forget(self, session_hash: str) -> None:
        """Drop a session's key (logout, expiry, revocation)."""
        self.sessions.pop(session_hash, None)

    def prune(self, max_age: float) -> None:
        """Drop keys of sessions older than any session may live."""
        now = time.monotonic()
        for hashed, unlocked in list(self.sessions.items()):
            if now - unlocked.opened_at > max_age:
                del self.sessions[hashed]


class _QueueReader:
    """A blocking reader fed by the event loop (upload bridge)."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self._rest = b""
        self._ended = False

    def read(self, size: int = -1, /) -> bytes:
        while not self._rest and not self._ended:
            item = self.chunks.get()
            if item is _DONE:
                self._ended = True
            elif isinstance(item, BaseException):
                raise item
            else:
                assert isinstance(item, bytes)  # noqa: S101 - queue holds bytes or markers
                self._rest = item
        if size < 0:
            size = len(self._rest)
        data, self._rest = self._rest[:size], self._rest[size:]
        return data


async def _feed(reader: _QueueReader, chunks: AsyncIterator[bytes]) -> None:
    """Move network chunks into the blocking reader without blocking the loop."""

    async def put(item: object) -> None:
        while True:
            try:
                reader.chunks.put_nowait(item)
            except queue.Full:
                await asyncio.sleep(0.002)
            else:
                return

    try:
        async for chunk in chunks:
            if chunk:
                await put(bytes(chunk))
    except BaseException as err:
        await put(ConnectionError(f"upload interrupted: {err!r}"))
        raise
    await put(_DONE)


def quota_bytes(config: ProductionsConfig, role: str, space: str) -> int:
    """Return a role's capacity for one space (pupils' when the role has none)."""
    quota = config.quotas.get(role) or config.quotas["pupil"]
    megabytes = quota.pedagogical_mb if space == "pedagogical" else quota.personnel_mb
    return megabytes * 1_000_000


def _create_keys(password: str, profile: str, recovery: bool) -> vault.NewKeys:
    return vault.create_keys(password, profile, recovery=recovery)


class _SinkFile(io.RawIOBase):
    """A write-only, unseekable file that hands its bytes to a sink."""

    def __init__(self, sink: Callable[[bytes | bytearray], None]) -> None:
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._sink(chunk)
        return len(chunk)


def _put_in_place(held: Path, target: Path) -> None:
    """Move a held file, now scanned, to where it was uploaded (one rename)."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    held.rename(target)
    fsync_directory(target.parent)


def _write_zip(
    pedagogical: PedagogicalSpace,
    personnel: tuple[PersonnelSpace, str, Index] | None,
    sink: Callable[[bytes | bytearray], None],
) -> None:
    """Write the zip of both spaces to ``sink``.

    Stored, not compressed: the work is mostly already-compressed documents
    and photos, and the box's CPU is small.
    """
    with zipfile.ZipFile(_SinkFile(sink), "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        if pedagogical.folder.exists():
            for found in sorted(pedagogical.folder.rglob("*")):
                if found.is_file() and not found.is_symlink():
                    relative = found.relative_to(pedagogical.folder).as_posix()
                    with archive.open(f"pedagogique/{relative}", "w", force_zip64=True) as out:
                        pedagogical.read(relative, _into(out))
        if personnel is not None:
            space, identity, index = personnel
            for name, entry in sorted(index.files.items()):
                # Names stored before the one path check may hold NUL or newlines.
                shown = "".join(c if c.isprintable() else "_" for c in name)
                with archive.open(f"PERSONNEL/{shown}", "w", force_zip64=True) as out:
                    space.read_blob(entry, identity, _into(out))


def _write_handed_in_zip(
    assignment_folder: Path, names: dict[str, str], sink: Callable[[bytes | bytearray], None]
) -> None:
    """Write every pupil's work for one assignment to ``sink``: a folder per pupil, by name.

    A folder is "Name (login)": two pupils of the same name stay apart, and
    the teacher reads names, not logins, first (#9.17).
    """
    with zipfile.ZipFile(_SinkFile(sink), "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        if not assignment_folder.is_dir():
            return
        for pupil in sorted(p for p in assignment_folder.iterdir() if p.is_dir()):
            if pupil.name.startswith(".") or pupil.is_symlink():
                continue  # uploads in flight, never followed links
            label = "".join(c if c.isprintable() and c not in "/\\" else "_"
                            for c in names.get(pupil.name, pupil.name))  # fmt: skip
            space = PedagogicalSpace(assignment_folder, pupil.name)
            for found in sorted(pupil.rglob("*")):
                if found.is_file() and not found.is_symlink():
                    relative = found.relative_to(pupil).as_posix()
                    arcname = f"{label} ({pupil.name})/{relative}"
                    with archive.open(arcname, "w", force_zip64=True) as out:
                        space.read(relative, _into(out))


def _into(out: IO[bytes]) -> Callable[[bytes | bytearray], None]:
    def write(data: bytes | bytearray) -> None:
        out.write(data)

    return write


class StoreBase:
    """What every part of the productions store shares: locks, spaces, usage, helpers."""

    def __init__(self, core: Core) -> None:
        """Bind to the core; spaces live under ``<data_dir>/productions``."""
        self.core = core
        self.root = core.config.site.data_dir / "productions"
        self.keyring = Keyring()
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, user: str) -> asyncio.Lock:
        return self._locks.setdefault(user, asyncio.Lock())

    def _identity(self, session_hash: str, user: str) -> str:
        unlocked = self.keyring.sessions.get(session_hash)
        if unlocked is None or unlocked.user != user or unlocked.identity is None:
            raise LockedError
        return unlocked.identity

    async def _recipient(self, user: str) -> str:
        row = await self.core.db.fetchone(
            "SELECT recipient FROM personnel_keys WHERE user = ?", (user,)
        )
        if row is None:
            raise LockedError
        return str(row["recipient"])

    async def _personnel(self, user: str) -> PersonnelSpace:
        return PersonnelSpace(self.root / "personnel", user, await self._recipient(user))

    def _pedagogical(self, user: str) -> PedagogicalSpace:
        return PedagogicalSpace(self.root / "pedagogical", user)

    def quota_bytes(self, role: str, space: Space) -> int:
        """Return a role's capacity for one space."""
        return quota_bytes(self.core.config.section(ProductionsConfig), role, space)

    async def usage(self, user: str, space: Space) -> tuple[int, int]:
        """Return (bytes, files) a space takes (what an administrator may see)."""
        row = await self.core.db.fetchone(
            "SELECT bytes, files FROM storage_usage WHERE user = ? AND space = ?", (user, space)
        )
        return (int(row["bytes"]), int(row["files"])) if row else (0, 0)

    async def record_personnel_usage(self, user: str, stored: int, files: int) -> None:
        """Store what a person's PERSONNEL takes (after a WebDAV write)."""
        await self._record_usage(user, "personnel", stored, files)

    async def recount_pedagogical(self, user: str) -> None:
        """Store what a person's pedagogical space takes (after a WebDAV write)."""
        total, files = await self.core.executor.run(self._pedagogical(user).usage)
        await self._record_usage(user, "pedagogical", total, files)

    async def _record_usage(self, user: str, space: Space, size: int, files: int) -> None:
        async with self.core.db.write() as tx:
            await tx.execute(
                "INSERT INTO storage_usage (user, space, bytes, files, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user, space) DO UPDATE SET"
                " bytes = excluded.bytes, files = excluded.files,"
                " updated_at = excluded.updated_at",
                (user, space, size, files, time.time()),
            )
            await tx.notify(USAGE_TOPIC)

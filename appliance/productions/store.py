"""The productions store: both spaces of every person, behind one async API.

Owned by the web process (explicit wiring: created in the app's cleanup
context). It keeps, in memory only, the PERSONNEL identity of each logged-in
web session (:class:`Keyring`); a session that ends takes its key with it.
Access is checked on every call: a person reaches only their own spaces;
no role, referent included, can open another person's PERSONNEL, because no
code path holds their identity (#7.30, #7.31). Blocking work (Argon2id,
encryption, disk) runs in the bounded executor; uploads and downloads stream
through a small bounded queue, so no plaintext ever touches the disk and
memory stays flat whatever the file size.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import functools
import hashlib
import io
import logging
import queue
import secrets
import shutil
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, Literal, NoReturn

from appliance.atomic import fsync_directory
from appliance.productions import antivirus, escrow, vault
from appliance.productions.config import ProductionsConfig
from appliance.productions.paths import clean_folder, inside
from appliance.productions.pedagogical import PedagogicalSpace
from appliance.productions.personnel import (
    Entry,
    Index,
    PersonnelSpace,
    SpaceError,
    clean_path,
    space_folder,
)
from appliance.productions.quota import QuotaError, room

if TYPE_CHECKING:
    from appliance.core import Core

_LOGGER = logging.getLogger(__name__)

Space = Literal["pedagogical", "personnel"]
SPACES: Final[tuple[Space, ...]] = ("pedagogical", "personnel")
USAGE_TOPIC: Final = "productions.usage"
_QUEUE_CHUNKS: Final = 8
_HAND_OVER_BYTES: Final = 1 << 20
_DONE: Final = object()


class LockedError(PermissionError):
    """PERSONNEL is locked for this session (the password changed in the directory)."""


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
        super().__init__(f"infected: {signature}")
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


class ProductionsStore:
    """Both spaces of every person."""

    def __init__(self, core: Core) -> None:
        """Bind to the core; spaces live under ``<data_dir>/productions``."""
        self.core = core
        self.root = core.config.site.data_dir / "productions"
        self.keyring = Keyring()
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, user: str) -> asyncio.Lock:
        return self._locks.setdefault(user, asyncio.Lock())

    # -- keys ------------------------------------------------------------------------

    async def unlock_at_login(self, user: str, password: str, session_hash: str) -> None:
        """Open (or create) the person's PERSONNEL key with the password just checked."""
        cfg = self.core.config.productions
        self.keyring.prune(self.core.config.web.session_absolute_hours * 3600)
        row = await self.core.db.fetchone(
            "SELECT by_password FROM personnel_keys WHERE user = ?", (user,)
        )
        if row is None:
            keys = await self.core.executor.run(
                _create_keys, password, cfg.kdf_profile, cfg.recovery_codes
            )
            now = time.time()
            async with self.core.db.write() as tx:
                await tx.execute(
                    "INSERT OR IGNORE INTO personnel_keys (user, recipient, by_password,"
                    " by_recovery, created_at, sealed_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        user,
                        keys.recipient,
                        keys.by_password.to_json(),
                        keys.by_recovery.to_json() if keys.by_recovery else None,
                        now,
                        now,
                    ),
                )
            self.keyring.sessions[session_hash] = Unlocked(user, keys.identity, keys.recovery_code)
            await self._seal_for_escrow(user, keys.identity)
            return
        sealed = vault.SealedIdentity.from_json(row["by_password"])
        try:
            identity = await self.core.executor.run(vault.open_sealed, sealed, password)
        except vault.VaultError:
            # The directory has a new password: PERSONNEL waits for the old one or the code.
            self.keyring.sessions[session_hash] = Unlocked(user, None)
            return
        self.keyring.sessions[session_hash] = Unlocked(user, identity)
        await self._seal_for_escrow(user, identity)

    async def _seal_for_escrow(self, user: str, identity: str) -> None:
        """Seal the key to the escrow, once, if the school set one up."""
        row = await self.core.db.fetchone(
            "SELECT e.recipient FROM personnel_escrow e, personnel_keys k"
            " WHERE k.user = ? AND k.by_escrow IS NULL",
            (user,),
        )
        if row is None:
            return
        sealed = await self.core.executor.run(
            escrow.seal_for_escrow, identity, str(row["recipient"])
        )
        await self.core.db.execute_write(
            "UPDATE personnel_keys SET by_escrow = ? WHERE user = ?", (sealed, user)
        )

    async def create_escrow(self, custodians: int, threshold: int, *, actor: str) -> list[str]:
        """Set the escrow up; return the custodians' shares (to print, never stored)."""
        if await self.core.db.fetchone("SELECT 1 FROM personnel_escrow") is not None:
            raise escrow.EscrowError("an escrow exists already")
        made = await self.core.executor.run(escrow.create, custodians, threshold)
        await self.core.db.execute_write(
            "INSERT INTO personnel_escrow (id, recipient, custodians, threshold, created_at)"
            " VALUES (1, ?, ?, ?, ?)",
            (made.recipient, custodians, threshold, time.time()),
        )
        await self.core.audit.record(
            actor=actor,
            source="cli",
            action="personnel.escrow",
            outcome="created",
            detail=f"{threshold} of {custodians} custodians",
        )
        return made.shares

    async def open_by_escrow(self, user: str, shares: list[str], *, actor: str) -> str:
        """Return a person's PERSONNEL identity from custodians' shares (audited)."""
        row = await self.core.db.fetchone(
            "SELECT by_escrow FROM personnel_keys WHERE user = ?", (user,)
        )
        if row is None or row["by_escrow"] is None:
            raise escrow.EscrowError(f"{user}: no key sealed to the escrow")
        try:
            escrow_identity = await self.core.executor.run(escrow.rebuild, shares)
            identity = await self.core.executor.run(
                escrow.open_from_escrow, str(row["by_escrow"]), escrow_identity
            )
        except escrow.EscrowError:
            await self.core.audit.record(
                actor=actor,
                source="cli",
                action="personnel.escrow_open",
                target=user,
                outcome="failure",
            )
            raise
        await self.core.audit.record(
            actor=actor,
            source="cli",
            action="personnel.escrow_open",
            target=user,
            outcome="success",
            detail=f"{len(shares)} shares",
        )
        return identity

    async def export_with_identity(
        self, user: str, identity: str, send: Callable[[bytes | bytearray], Awaitable[None]]
    ) -> None:
        """Stream the zip of a person's PERSONNEL opened by the escrow (judicial path)."""
        space = await self._personnel(user)
        index = await self.core.executor.run(space.load_index, identity)
        empty = PedagogicalSpace(self.root / ".none", user)
        await self._pump(_write_zip, empty, (space, identity, index), send=send)

    async def reseal(
        self,
        session_hash: str,
        user: str,
        password: str,
        *,
        old_password: str = "",
        recovery_code: str = "",
    ) -> None:
        """Seal the key under ``password`` again (a changed password, or a recovery)."""
        row = await self.core.db.fetchone(
            "SELECT by_password, by_recovery FROM personnel_keys WHERE user = ?", (user,)
        )
        if row is None:
            raise vault.VaultError("no PERSONNEL key for this account")
        if recovery_code:
            if row["by_recovery"] is None:
                raise vault.VaultError("recovery codes are off")
            sealed = vault.SealedIdentity.from_json(row["by_recovery"])
            secret = vault.normalise_code(recovery_code)
        else:
            sealed = vault.SealedIdentity.from_json(row["by_password"])
            secret = old_password
        identity = await self.core.executor.run(vault.open_sealed, sealed, secret)
        profile = self.core.config.productions.kdf_profile
        resealed = await self.core.executor.run(vault.seal, identity, password, profile)
        async with self.core.db.write() as tx:
            await tx.execute(
                "UPDATE personnel_keys SET by_password = ?, sealed_at = ? WHERE user = ?",
                (resealed.to_json(), time.time(), user),
            )
        self.keyring.sessions[session_hash] = Unlocked(user, identity)
        await self.core.audit.record(
            actor=user,
            source="web",
            action="personnel.reseal",
            outcome="success",
            detail="recovery code" if recovery_code else "old password",
        )

    def take_recovery_code(self, session_hash: str) -> str:
        """Return the new recovery code once (then forget it)."""
        unlocked = self.keyring.sessions.get(session_hash)
        if unlocked is None or not unlocked.recovery_code:
            return ""
        code, unlocked.recovery_code = unlocked.recovery_code, ""
        return code

    def _identity(self, session_hash: str, user: str) -> str:
        unlocked = self.keyring.sessions.get(session_hash)
        if unlocked is None or unlocked.user != user or unlocked.identity is None:
            raise LockedError("PERSONNEL is locked for this session")
        return unlocked.identity

    async def _recipient(self, user: str) -> str:
        row = await self.core.db.fetchone(
            "SELECT recipient FROM personnel_keys WHERE user = ?", (user,)
        )
        if row is None:
            raise LockedError("PERSONNEL has no key yet (log in once)")
        return str(row["recipient"])

    async def _personnel(self, user: str) -> PersonnelSpace:
        return PersonnelSpace(self.root / "personnel", user, await self._recipient(user))

    def _pedagogical(self, user: str) -> PedagogicalSpace:
        return PedagogicalSpace(self.root / "pedagogical", user)

    # -- quotas ----------------------------------------------------------------------

    def quota_bytes(self, role: str, space: Space) -> int:
        """Return a role's capacity for one space."""
        return quota_bytes(self.core.config.productions, role, space)

    async def usage(self, user: str, space: Space) -> tuple[int, int]:
        """Return (bytes, files) a space takes (what an administrator may see)."""
        row = await self.core.db.fetchone(
            "SELECT bytes, files FROM storage_usage WHERE user = ? AND space = ?", (user, space)
        )
        return (int(row["bytes"]), int(row["files"])) if row else (0, 0)

    async def open_identity(self, user: str, password: str) -> str | None:
        """Return PERSONNEL's identity for a password (None: no key yet, or another password).

        Never creates keys: a first login on the web page does, and shows the
        recovery code there.
        """
        row = await self.core.db.fetchone(
            "SELECT by_password FROM personnel_keys WHERE user = ?", (user,)
        )
        if row is None:
            return None
        try:
            identity: str = await self.core.executor.run(
                vault.open_sealed, vault.SealedIdentity.from_json(row["by_password"]), password
            )
        except vault.VaultError:
            return None
        return identity

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

    # -- files -----------------------------------------------------------------------

    async def listing(
        self, session_hash: str, user: str, space: Space, folder: str
    ) -> list[dict[str, Any]]:
        """Return a folder's children."""
        folder = clean_folder(folder)
        if space == "pedagogical":
            return await self.core.executor.run(self._pedagogical(user).listing, folder)
        identity = self._identity(session_hash, user)
        personnel = await self._personnel(user)
        index = await self.core.executor.run(personnel.load_index, identity)
        return index.listing(folder)

    async def put(
        self,
        session_hash: str,
        user: str,
        role: str,
        space: Space,
        path: str,
        chunks: AsyncIterator[bytes],
    ) -> int:
        """Store an upload atomically; return its size. Refused past the quota."""
        path = clean_path(path)
        try:
            return await self._store_upload(session_hash, user, role, space, path, chunks)
        except InfectedError as err:
            await self.core.audit.record(
                actor=user,
                source="web",
                action="antivirus.infected",
                target=space,
                outcome="refused",
                detail=err.signature,
            )
            _LOGGER.warning("Upload refused: clamd found %s", err.signature)
            raise

    async def _room(self, user: str, role: str, space: Space) -> int:
        """Ask the quota accountant what one more upload may take (under the person's lock)."""
        used, _ = await self.usage(user, space)
        held = await self.core.db.fetchone(
            "SELECT COALESCE(SUM(size), 0) AS size FROM held_uploads WHERE owner = ?", (user,)
        )
        pending = int(held["size"]) if held is not None and space == "pedagogical" else 0
        left = room(self.quota_bytes(role, space), used, pending=pending)
        if left <= 0:
            raise QuotaError("quota: the space is full")
        return min(left, self.core.config.productions.max_upload_mb * 1_000_000)

    async def _store_upload(
        self,
        session_hash: str,
        user: str,
        role: str,
        space: Space,
        path: str,
        chunks: AsyncIterator[bytes],
    ) -> int:
        if space == "pedagogical":
            target = self._pedagogical(user)
            async with self._lock(user):
                left = await self._room(user, role, space)
                size = await self._plain_write(target, path, chunks, left, owner=user)
                total, files = await self.core.executor.run(target.usage)
                await self._record_usage(user, space, total, files)
            return size
        identity = self._identity(session_hash, user)
        personnel = await self._personnel(user)
        async with self._lock(user):
            left = await self._room(user, role, space)
            blob, written = await self._scanned(
                chunks, lambda source, gate: personnel.write_blob(source, left, gate)
            )
            size = int(written)
            entry = Entry(blob, size, time.time())
            try:
                old, files = await self.core.executor.run(
                    personnel.change_index, identity, lambda index: index.put(path, entry)
                )
            except SpaceError:
                await self.core.executor.run(personnel.delete_blob, blob)
                raise
            if old is not None:
                await self.core.executor.run(personnel.delete_blob, old.blob)
            stored = await self.core.executor.run(personnel.stored_bytes)
            await self._record_usage(user, space, stored, files)
        return size

    async def _plain_write(
        self,
        target: PedagogicalSpace,
        path: str,
        chunks: AsyncIterator[bytes],
        room: int,
        *,
        owner: str,
    ) -> int:
        """Write a plain file, scanned; with clamd down, refuse or hold it (the policy)."""
        try:
            scan = await self._scan_session()
        except antivirus.ScannerUnavailable:
            if self.core.config.productions.antivirus.when_clamd_down != "hold":
                raise
            await self._hold(target, path, chunks, room, owner)
        size = await self._scanned(
            chunks, lambda source, gate: target.write(path, source, room, gate), scan
        )
        return int(size)

    async def _hold(
        self,
        target: PedagogicalSpace,
        path: str,
        chunks: AsyncIterator[bytes],
        room: int,
        owner: str,
    ) -> NoReturn:
        """Keep an upload aside, unseen, until clamd can scan it; raise HeldForScan."""
        held = PedagogicalSpace(self.root, "held")
        name = secrets.token_hex(16)
        reader = _QueueReader()
        gate: concurrent.futures.Future[antivirus.Verdict] = concurrent.futures.Future()
        size = int(
            await self._bridge(
                reader,
                chunks,
                None,
                gate,
                functools.partial(held.write, name, reader, room),
            )
        )
        async with self.core.db.write() as tx:
            await tx.execute(
                "INSERT INTO held_uploads (owner, target_folder, target_path, held_name, size,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (owner, str(target.folder), path, name, size, time.time()),
            )
        _LOGGER.warning("clamd unreachable: an upload is held until it can be scanned")
        raise HeldForScan(size)

    async def release_held(self) -> tuple[int, int]:
        """Scan held uploads; put the clean ones in place; return (released, refused)."""
        cfg = self.core.config.productions.antivirus
        rows = await self.core.db.fetchall("SELECT * FROM held_uploads ORDER BY id")
        held_root = PedagogicalSpace(self.root, "held").folder
        released = refused = 0
        for row in rows:
            held = held_root / row["held_name"]
            try:
                verdict = await self.core.executor.run(
                    antivirus.scan_file, cfg.clamd_socket, held, cfg.timeout_seconds
                )
            except antivirus.ScannerUnavailable:
                break  # still down: try again later
            if verdict.clean:
                try:
                    target = inside(Path(row["target_folder"]), clean_path(row["target_path"]))
                    await self.core.executor.run(_put_in_place, held, target)
                    released += 1
                except (SpaceError, OSError) as err:  # a file took a folder's name meanwhile
                    _LOGGER.warning("A held upload could not be put in place: %s", err)
                    await self.core.executor.run(functools.partial(held.unlink, missing_ok=True))
                    refused += 1
            else:
                await self.core.executor.run(functools.partial(held.unlink, missing_ok=True))
                refused += 1
                await self.core.audit.record(
                    actor=row["owner"],
                    source="scan",
                    action="antivirus.infected",
                    target="held",
                    outcome="refused",
                    detail=verdict.signature,
                )
            await self.core.db.execute_write("DELETE FROM held_uploads WHERE id = ?", (row["id"],))
            if Path(row["target_folder"]).parent == self.root / "pedagogical":
                await self.recount_pedagogical(row["owner"])
        return released, refused

    async def _scanned(
        self,
        chunks: AsyncIterator[bytes],
        write: Callable[[_QueueReader, Callable[[], None]], Any],
        scan: antivirus.ScanSession | None = None,
    ) -> Any:
        """Run ``write(source, gate)`` in the executor on the scanned upload.

        ``write`` must call ``gate()`` after the whole file is on disk and
        before committing it: the gate raises :class:`InfectedError` (or the
        scanner's error) and the write leaves nothing.
        """
        reader = _QueueReader()
        if scan is None:
            scan = await self._scan_session()
        gate: concurrent.futures.Future[antivirus.Verdict] = concurrent.futures.Future()

        def wait_for_verdict() -> None:
            verdict = gate.result()
            if not verdict.clean:
                raise InfectedError(verdict.signature)

        return await self._bridge(
            reader, chunks, scan, gate, functools.partial(write, reader, wait_for_verdict)
        )

    async def put_class_file(
        self, target: PedagogicalSpace, path: str, chunks: AsyncIterator[bytes], *, actor: str
    ) -> int:
        """Store a file in a class area (access already checked), scanned, atomically."""
        path = clean_path(path)
        room = self.core.config.productions.max_upload_mb * 1_000_000
        try:
            async with self._lock(f"class:{target.folder}"):
                size = await self._plain_write(target, path, chunks, room, owner=actor)
        except InfectedError as err:
            await self.core.audit.record(
                actor=actor,
                source="web",
                action="antivirus.infected",
                target="class",
                outcome="refused",
                detail=err.signature,
            )
            raise
        return int(size)

    async def read_class_file(
        self,
        target: PedagogicalSpace,
        path: str,
        send: Callable[[bytes | bytearray], Awaitable[None]],
    ) -> None:
        """Stream a file of a class area (access already checked)."""
        await self._pump(target.read, clean_path(path), send=send)

    async def _scan_session(self) -> antivirus.ScanSession | None:
        cfg = self.core.config.productions.antivirus
        if not cfg.enabled:
            return None
        return await antivirus.ScanSession.open(cfg.clamd_socket, wait_seconds=5.0)

    async def _bridge(
        self,
        reader: _QueueReader,
        chunks: AsyncIterator[bytes],
        scan: antivirus.ScanSession | None,
        gate: concurrent.futures.Future[antivirus.Verdict],
        work: Callable[..., Any],
        *args: Any,
    ) -> Any:
        """Run ``work`` in the executor while the loop feeds it the upload and clamd.

        ``work`` writes the whole file, then waits on ``gate`` before committing
        it; the gate opens with clamd's verdict once the upload has ended.
        """

        async def scanned() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                if scan is not None:
                    await scan.send(chunk)
                yield chunk

        feeding = asyncio.create_task(_feed(reader, scanned()), name="preau-upload-feed")
        job = asyncio.ensure_future(self.core.executor.run(work, *args))
        try:
            await feeding
            if scan is None:
                gate.set_result(antivirus.Verdict(True))
            else:
                timeout = self.core.config.productions.antivirus.timeout_seconds
                gate.set_result(await scan.verdict(timeout))
            return await job
        except BaseException as err:
            if not gate.done():
                gate.set_exception(
                    err if isinstance(err, Exception) else ConnectionError("upload abandoned")
                )
            if not feeding.done():
                feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeding
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job
            if scan is not None:
                scan.close()
            raise

    async def open_file(
        self, session_hash: str, user: str, space: Space, path: str
    ) -> tuple[int, Callable[[Callable[[bytes | bytearray], Awaitable[None]]], Awaitable[None]]]:
        """Find a file: return its size (for Content-Length) and what streams it.

        PERSONNEL's index is decrypted once for both.
        """
        path = clean_path(path)
        if space == "pedagogical":
            target = self._pedagogical(user)
            size: int = await self.core.executor.run(target.size_of, path)
            return size, lambda send: self._pump(target.read, path, send=send)
        identity = self._identity(session_hash, user)
        personnel = await self._personnel(user)
        index = await self.core.executor.run(personnel.load_index, identity)
        entry = index.files.get(path)
        if entry is None:
            raise FileNotFoundError(path)
        return entry.size, lambda send: self._pump(personnel.read_blob, entry, identity, send=send)

    async def _pump(
        self,
        work: Callable[..., None],
        *args: Any,
        send: Callable[[bytes | bytearray], Awaitable[None]],
    ) -> None:
        """Run a blocking reader in the executor and forward its chunks to ``send``.

        The reader does not wait for the event loop at each hand-over (it only
        takes one of ``_QUEUE_CHUNKS`` slots), so reading and decrypting the
        next block overlap with sending this one.
        """
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[object] = asyncio.Queue()
        slots = threading.Semaphore(_QUEUE_CHUNKS)
        cancelled = False

        pending: list[bytes | bytearray] = []
        pending_size = 0

        def hand_over() -> None:
            nonlocal pending_size
            if pending:
                # PERSONNEL hands over whole blocks: those go as they are, not copied.
                data = pending[0] if len(pending) == 1 else b"".join(pending)
                pending.clear()
                pending_size = 0
                while not slots.acquire(timeout=1.0):
                    if cancelled:
                        raise ConnectionError("download cancelled")
                loop.call_soon_threadsafe(chunks.put_nowait, data)

        def sink(data: bytes | bytearray) -> None:
            # Crossing threads costs more than copying: hand over about 1 MiB at a time.
            nonlocal pending_size
            if cancelled:
                raise ConnectionError("download cancelled")
            pending.append(data)
            pending_size += len(data)
            if pending_size >= _HAND_OVER_BYTES:
                hand_over()

        def run() -> None:
            try:
                work(*args, sink)
                hand_over()
            finally:
                loop.call_soon_threadsafe(chunks.put_nowait, _DONE)

        job = asyncio.ensure_future(self.core.executor.run(run))
        try:
            while (item := await chunks.get()) is not _DONE:
                slots.release()
                assert isinstance(item, bytes | bytearray)  # noqa: S101 - bytes or the end
                await send(item)
        except BaseException:
            cancelled = True
            slots.release()  # a reader waiting for a slot sees the cancellation at once
            with contextlib.suppress(ConnectionError):  # the worker's "cancelled"
                await job
            raise
        await job

    async def export(
        self, session_hash: str, user: str, send: Callable[[bytes | bytearray], Awaitable[None]]
    ) -> None:
        """Stream a zip of both my spaces (#8.20); PERSONNEL is decrypted on the fly."""
        pedagogical = self._pedagogical(user)
        personnel: tuple[PersonnelSpace, str, Index] | None = None
        unlocked = self.keyring.sessions.get(session_hash)
        if unlocked is not None and unlocked.user == user and unlocked.identity is not None:
            space = await self._personnel(user)
            index = await self.core.executor.run(space.load_index, unlocked.identity)
            personnel = (space, unlocked.identity, index)
        await self._pump(_write_zip, pedagogical, personnel, send=send)

    async def make_folder(self, session_hash: str, user: str, space: Space, path: str) -> None:
        """Create a folder."""
        path = clean_path(path)
        if space == "pedagogical":
            await self.core.executor.run(self._pedagogical(user).make_folder, path)
            return
        identity = self._identity(session_hash, user)
        personnel = await self._personnel(user)
        await self.core.executor.run(
            personnel.change_index, identity, lambda index: index.add_folder(path)
        )

    async def move(
        self, session_hash: str, user: str, space: Space, source: str, target: str
    ) -> None:
        """Rename or move a file or folder within one of my spaces."""
        source, target = clean_path(source), clean_path(target)
        if space == "pedagogical":
            async with self._lock(user):
                await self.core.executor.run(self._pedagogical(user).move, source, target)
            return
        identity = self._identity(session_hash, user)
        personnel = await self._personnel(user)
        await self.core.executor.run(
            personnel.change_index, identity, lambda index: index.move(source, target)
        )

    async def delete(self, session_hash: str, user: str, space: Space, path: str) -> None:
        """Delete a file or a folder and everything in it."""
        path = clean_path(path)
        if space == "pedagogical":
            target = self._pedagogical(user)
            async with self._lock(user):
                await self.core.executor.run(target.delete, path)
                total, files = await self.core.executor.run(target.usage)
                await self._record_usage(user, space, total, files)
            return
        identity = self._identity(session_hash, user)
        personnel = await self._personnel(user)
        async with self._lock(user):
            blobs, files = await self.core.executor.run(
                personnel.change_index, identity, lambda index: index.remove(path)
            )
            for blob in blobs:
                await self.core.executor.run(personnel.delete_blob, blob)
            stored = await self.core.executor.run(personnel.stored_bytes)
            await self._record_usage(user, space, stored, files)

    async def create_retrieval_code(
        self, person: str, *, actor: str, reason: str = ""
    ) -> tuple[str, float]:
        """Make a code letting someone who left download their work (#8.21); shown once."""
        code = vault.new_recovery_code()[:23]  # 4 groups of 5: about 99 bits
        expires = time.time() + self.core.config.productions.departed_grace_days * 86_400
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

    async def has_personnel_key(self, user: str) -> bool:
        """Return whether the person's PERSONNEL has a key (it was opened once)."""
        row = await self.core.db.fetchone("SELECT 1 FROM personnel_keys WHERE user = ?", (user,))
        return row is not None

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
        grace = self.core.config.productions.departed_grace_days
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
        grace = self.core.config.productions.departed_grace_days
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


def _create_keys(password: str, profile: str, recovery: bool) -> vault.NewKeys:
    return vault.create_keys(password, profile, recovery=recovery)


__all__ = ["SPACES", "Index", "Keyring", "LockedError", "ProductionsStore", "QuotaError"]


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


def _into(out: IO[bytes]) -> Callable[[bytes | bytearray], None]:
    def write(data: bytes | bytearray) -> None:
        out.write(data)

    return write

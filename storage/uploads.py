"""Uploads into both spaces: quota, antivirus (or held for a scan), atomic placement."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, NoReturn

from appliance import antivirus
from storage.config import ProductionsConfig
from storage.paths import inside
from storage.pedagogical import PedagogicalSpace
from storage.personnel import (
    Entry,
    SpaceError,
    clean_path,
)
from storage.personnel_keys import PersonnelKeys
from storage.quota import QuotaError, room
from storage.store_base import (
    HeldForScan,
    InfectedError,
    Space,
    _feed,
    _put_in_place,
    _QueueReader,
)

_LOGGER = logging.getLogger(__name__)


class Uploads(PersonnelKeys):
    """Uploads into both spaces: quota, antivirus (or held for a scan), atomic placement."""

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
            raise QuotaError
        return min(left, self.core.config.section(ProductionsConfig).max_upload_mb * 1_000_000)

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
            if self.core.config.section(ProductionsConfig).antivirus.when_clamd_down != "hold":
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
        cfg = self.core.config.section(ProductionsConfig).antivirus
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

    async def copy_to_class(
        self, user: str, path: str, target: PedagogicalSpace
    ) -> tuple[str, int]:
        """Copy a file of ``user``'s own space into a class area (access already checked).

        It was scanned when it came in; it keeps its name. Returns (name, size).
        """
        source = self._pedagogical(user)
        name = clean_path(path).rsplit("/", 1)[-1]
        room = self.core.config.section(ProductionsConfig).max_upload_mb * 1_000_000

        def copy() -> int:
            with source.open(path) as handle:
                return target.write(name, handle, room)

        async with self._lock(f"class:{target.folder}"):
            size = await self.core.executor.run(copy)
        return name, int(size)

    async def put_class_file(
        self, target: PedagogicalSpace, path: str, chunks: AsyncIterator[bytes], *, actor: str
    ) -> int:
        """Store a file in a class area (access already checked), scanned, atomically."""
        path = clean_path(path)
        room = self.core.config.section(ProductionsConfig).max_upload_mb * 1_000_000
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

    async def _scan_session(self) -> antivirus.ScanSession | None:
        cfg = self.core.config.section(ProductionsConfig).antivirus
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
                timeout = self.core.config.section(ProductionsConfig).antivirus.timeout_seconds
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

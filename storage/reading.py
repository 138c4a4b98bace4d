"""Reading both spaces: listings, streamed downloads, zip exports, folders, moves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from storage.paths import clean_folder
from storage.pedagogical import PedagogicalSpace
from storage.personnel import (
    Index,
    PersonnelSpace,
    clean_path,
)
from storage.store_base import (
    _DONE,
    _HAND_OVER_BYTES,
    _QUEUE_CHUNKS,
    Space,
    _write_handed_in_zip,
    _write_zip,
)
from storage.uploads import Uploads

_LOGGER = logging.getLogger(__name__)


class Reading(Uploads):
    """Reading both spaces: listings, streamed downloads, zip exports, folders, moves."""

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

    async def read_class_file(
        self,
        target: PedagogicalSpace,
        path: str,
        send: Callable[[bytes | bytearray], Awaitable[None]],
    ) -> None:
        """Stream a file of a class area (access already checked)."""
        await self._pump(target.read, clean_path(path), send=send)

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

    async def recent_files(self, user: str, limit: int) -> list[str]:
        """Return up to ``limit`` files of ``user``'s pedagogical space, newest first."""
        return await self.core.executor.run(self._pedagogical(user).files, limit)

    async def export_handed_in(
        self,
        assignment_folder: Path,
        names: dict[str, str],
        send: Callable[[bytes | bytearray], Awaitable[None]],
    ) -> None:
        """Stream the zip of every pupil's work for one assignment (the caller checked access)."""
        await self._pump(_write_handed_in_zip, assignment_folder, names, send=send)

    async def export_with_identity(
        self, user: str, identity: str, send: Callable[[bytes | bytearray], Awaitable[None]]
    ) -> None:
        """Stream the zip of a person's PERSONNEL opened by the escrow (judicial path)."""
        space = await self._personnel(user)
        index = await self.core.executor.run(space.load_index, identity)
        empty = PedagogicalSpace(self.root / ".none", user)
        await self._pump(_write_zip, empty, (space, identity, index), send=send)

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

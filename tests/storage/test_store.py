"""Downloads stream from a worker thread to the event loop: every byte arrives
once and in order, and a reader that goes away frees the worker at once
(issue #5 scope 3; CARMO #8.11)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.store import ProductionsStore, Space
from tests.conftest import make_config, opened_core

PASSWORD = "mot-de-passe-eleve-1"
SIZE = 20 * (1 << 20) + 12_345  # more blocks than the queue holds, a short last one


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 100_000):
        yield data[start : start + 100_000]


@pytest.mark.parametrize("space", ["pedagogical", "personnel"])
async def test_a_download_is_whole_and_a_reader_leaving_frees_the_worker(
    tmp_path: Path, space: Space
) -> None:
    data = os.urandom(SIZE)
    async with opened_core(make_config(tmp_path / "data")) as core:
        store = ProductionsStore(core)
        await store.unlock_at_login("eleve", PASSWORD, "s")
        await store.put("s", "eleve", "pupil", space, "cours/film.bin", _chunks(data))

        size, stream = await store.open_file("s", "eleve", space, "cours/film.bin")
        assert size == SIZE
        digest = hashlib.sha256()

        async def keep(block: bytes | bytearray) -> None:
            digest.update(block)

        await stream(keep)
        assert digest.digest() == hashlib.sha256(data).digest()

        # A phone that drops the connection after the first block: the write fails.
        received: list[int] = []

        async def drop(block: bytes | bytearray) -> None:
            received.append(len(block))
            await asyncio.sleep(0.05)  # let the worker fill its slots and wait
            raise ConnectionResetError

        _, stream = await store.open_file("s", "eleve", space, "cours/film.bin")
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(stream(drop), 5)  # returns only once the worker stopped
        assert len(received) == 1
        # The executor is free: another download still runs to the end.
        _, stream = await store.open_file("s", "eleve", space, "cours/film.bin")
        again = hashlib.sha256()

        async def keep_again(block: bytes | bytearray) -> None:
            again.update(block)

        await asyncio.wait_for(stream(keep_again), 10)
        assert again.digest() == digest.digest()

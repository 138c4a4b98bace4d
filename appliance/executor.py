"""The one bounded executor for blocking calls.

LDAP binds, argon2 hashing, psutil reads, file fsyncs and (later) nft and
scapy calls block. They all go through :class:`BlockingExecutor`, which owns a
small thread pool sized for a Raspberry Pi, so a burst of logins cannot spawn
a thread per request nor stall the event loop. The executor is created and shut
down by the core object; nothing in the tree creates its own pool.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")

DEFAULT_WORKERS: Final = 4


class BlockingExecutor:
    """Run blocking callables off the event loop, a bounded number at a time."""

    def __init__(self, workers: int = DEFAULT_WORKERS) -> None:
        """Create the pool; threads start lazily."""
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="preau-blocking")
        self._closed = False

    async def run(self, func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``func(*args, **kwargs)`` in the pool and await its result."""
        if self._closed:
            raise RuntimeError("executor is shut down")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(func, *args, **kwargs))

    async def file_chunks(self, path: Path, size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Yield a file in pieces of ``size`` bytes, each read in the pool (a streamed body)."""
        handle = await self.run(path.open, "rb")
        try:
            while chunk := await self.run(handle.read, size):
                yield chunk
        finally:
            await self.run(handle.close)

    def shutdown(self) -> None:
        """Stop accepting work and let running calls finish."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)

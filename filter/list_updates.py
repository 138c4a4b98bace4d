"""The nightly list download: fetch, verify, keep the last good copy, swap.

Runs as a scheduled job inside the night window (UT1 asks for no downloads
08:00-19:00 GMT). A download goes to a temporary file, is checked against the
published MD5 or SHA-256, and only then replaces the last good copy; the
compile runs in a child process (so the scheduler's memory stays small) and the
filter swaps the new artifact in. Any failure leaves the lists in service as
they were.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

import aiohttp

from appliance.atomic import fsync_directory, write_atomic
from appliance.config_render import render_config

if TYPE_CHECKING:
    from appliance.core import Core
    from filter.config import ListSource

_LOGGER = logging.getLogger(__name__)

CHUNK: Final = 1024 * 1024
MAX_LIST_BYTES: Final = 1024 * 1024 * 1024


class ListUpdateError(Exception):
    """A download or check failed; the previous list stays in service."""


def downloads_dir(core: Core) -> Path:
    """Return where last good copies are kept."""
    return core.config.site.data_dir / "filter" / "downloads"


async def _fetch(core: Core, url: str, target: Path) -> None:
    if url.startswith("file://"):
        source = Path(url[len("file://") :])
        data = await core.executor.run(source.read_bytes)
        await core.executor.run(target.write_bytes, data)
        return
    timeout = aiohttp.ClientTimeout(total=1800, sock_read=120)
    size = 0
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        if response.status != 200:
            raise ListUpdateError(f"{url}: HTTP {response.status}")
        with target.open("wb") as handle:
            async for chunk in response.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > MAX_LIST_BYTES:
                    raise ListUpdateError(f"{url}: larger than {MAX_LIST_BYTES} bytes")
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())


async def _expected_digest(core: Core, url: str) -> str:
    if url.startswith("file://"):
        text = await core.executor.run(Path(url[len("file://") :]).read_text)
    else:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            async with session.get(url) as response:
                if response.status != 200:
                    raise ListUpdateError(f"{url}: HTTP {response.status}")
                text = await response.text()
    token = text.strip().split()[0].lower() if text.strip() else ""
    if len(token) not in (32, 64) or any(c not in "0123456789abcdef" for c in token):
        raise ListUpdateError(f"{url}: no MD5 or SHA-256 in the checksum file")
    return token


def _digest(path: Path, length: int) -> str:
    hasher = hashlib.md5(usedforsecurity=False) if length == 32 else hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


async def _check(core: Core, source: ListSource, partial: Path) -> None:
    expected = await _expected_digest(core, source.checksum_url)
    actual = await core.executor.run(_digest, partial, len(expected))
    if actual != expected:
        raise ListUpdateError(
            f"{source.name}: checksum mismatch (expected {expected}, got {actual})"
        )


async def update_list(core: Core, source: ListSource) -> str:
    """Download, verify and swap one list; raise ListUpdateError and keep the old one."""
    folder = downloads_dir(core)
    await core.executor.run(folder.mkdir, parents=True, exist_ok=True)
    suffix = ".tar.gz" if source.format == "ut1" else ".txt"
    good = folder / f"{source.name}{suffix}"
    partial = folder / f".{source.name}{suffix}.part"
    try:
        await _fetch(core, source.url, partial)
        if source.checksum_url:
            await _check(core, source, partial)
    except (OSError, aiohttp.ClientError, TimeoutError) as err:
        await core.executor.run(partial.unlink, missing_ok=True)
        raise ListUpdateError(f"{source.name}: download failed: {err}") from err
    except ListUpdateError:
        await core.executor.run(partial.unlink, missing_ok=True)
        raise
    await core.executor.run(partial.replace, good)
    await core.executor.run(fsync_directory, folder)
    # The child must see exactly this process's config (even built-in defaults).
    config_copy = core.config.site.data_dir / "filter" / "effective.toml"
    text = render_config(core.config, "Effective configuration for the list compiler.")
    await core.executor.run(write_atomic, config_copy, text, mode=0o600)
    argv = [sys.executable, "-m", "appliance", "--config", str(config_copy)]
    if source.format == "ut1":
        argv += ["filter", "import-ut1", str(good), "--name", source.name]
    else:
        argv += [
            "filter",
            "import-list",
            source.name,
            str(good),
            "--format",
            source.format,
            "--category",
            source.category,
        ]
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # The job's summary is for the referent's dashboard and log: French.
        env={**os.environ, "LANGUAGE": "fr"},
    )
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        raise ListUpdateError(f"{source.name}: compile failed: {stderr.decode()[-500:]}")
    first = stdout.decode().splitlines()[:1]
    return f"{source.name}: {first[0] if first else 'ok'}"

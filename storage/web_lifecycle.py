"""What the storage runs alongside the web app: the upload sweep, held uploads, WebDAV.

Every upload of the appliance (pages, API and WebDAV) is written by the web
process, so this runs there, as one of the app's cleanup contexts
(:attr:`appliance.features.Feature.web_lifecycle`): aiohttp enters it before
the app listens and leaves it after the app stops. That order is what makes
the sweep of ``.part`` files safe: no upload can be in flight yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web

from appliance.web.keys import CORE_KEY, THROTTLE_KEY
from storage.config import ProductionsConfig
from storage.paths import sweep_incoming
from storage.store import ProductionsStore, quota_bytes
from storage.webdav import WebDavServer, directory_check
from storage.webdav_personnel import PersonnelSettings

_LOGGER = logging.getLogger(__name__)
HELD_SCAN_SECONDS: Final = 60.0


async def storage_alongside_web(app: web.Application) -> AsyncIterator[None]:
    """Sweep killed uploads, then run the held-uploads scan and WebDAV until the app stops."""
    core = app[CORE_KEY]
    section = core.config.section(ProductionsConfig)
    root = core.config.site.data_dir / "productions"
    swept = await core.executor.run(sweep_incoming, root)
    if swept:
        _LOGGER.info("Removed %d temporaries of interrupted uploads", swept)
    held: asyncio.Task[None] | None = None
    if section.antivirus.when_clamd_down == "hold":
        held = asyncio.create_task(_release_held_forever(core.shared(ProductionsStore)))
    webdav = _webdav(app) if section.enabled and section.webdav_listen else None
    try:
        if webdav is not None:
            await core.executor.run(webdav.start)
            _LOGGER.info("WebDAV on %s", section.webdav_listen)
        yield
    finally:
        if held is not None:
            held.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await held
        if webdav is not None:
            await core.executor.run(webdav.stop)


async def _release_held_forever(store: ProductionsStore) -> None:
    """Scan uploads held while clamd was down, once a minute."""
    while True:
        await asyncio.sleep(HELD_SCAN_SECONDS)
        try:
            released, refused = await store.release_held()
        except Exception:
            _LOGGER.exception("Scanning held uploads failed")
            continue
        if released or refused:
            _LOGGER.info("Held uploads: %d let in, %d refused", released, refused)


def _webdav(app: web.Application) -> WebDavServer:
    core = app[CORE_KEY]
    section = core.config.section(ProductionsConfig)
    web_config = core.config.web
    host, _, port = section.webdav_listen.rpartition(":")
    antivirus = section.antivirus
    clamd = antivirus.clamd_socket if antivirus.enabled else None
    loop = asyncio.get_running_loop()
    store = core.shared(ProductionsStore)
    data = core.config.site.data_dir / "productions"

    def record_usage(person: str) -> None:
        asyncio.run_coroutine_threadsafe(store.recount_pedagogical(person), loop).result(60)

    def record_personnel(person: str, stored: int, files: int) -> None:
        future = store.record_personnel_usage(person, stored, files)
        asyncio.run_coroutine_threadsafe(future, loop).result(60)

    return WebDavServer(
        host=host.strip("[]"),
        port=int(port),
        root=data / "pedagogical",
        authenticate=directory_check(core.directory.authenticate, store.open_identity, loop),
        clamd_socket=clamd,
        scan_wait=antivirus.timeout_seconds,
        quota=lambda role: quota_bytes(section, role, "pedagogical"),
        record_usage=record_usage,
        personnel=PersonnelSettings(
            data / "personnel",
            clamd,
            antivirus.timeout_seconds,
            lambda role: quota_bytes(section, role, "personnel"),
            record_personnel,
        ),
        throttle=app[THROTTLE_KEY],
        tls=(web_config.tls_cert, web_config.tls_key)
        if web_config.tls_cert and web_config.tls_key
        else None,
    )

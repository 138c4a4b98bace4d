"""The web service: serves the admin UI and API on the configured address."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import ClassVar, Final

from aiohttp import web

from appliance.productions.paths import sweep_incoming
from appliance.productions.store import ProductionsStore, quota_bytes
from appliance.productions.webdav import WebDavServer, directory_check
from appliance.productions.webdav_personnel import PersonnelSettings
from appliance.service import Health, Service
from appliance.tls import server_context
from appliance.web.app import create_app
from appliance.web.keys import THROTTLE_KEY

_LOGGER = logging.getLogger(__name__)
HELD_SCAN_SECONDS: Final = 60.0


class WebService(Service):
    """Serve the admin web application."""

    name: ClassVar[str] = "web"

    async def async_setup(self) -> None:
        """Build the app and its runner."""
        self._app = create_app(self.core)
        self._runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()

    async def async_start(self) -> None:
        """Listen on the configured address."""
        cfg = self.core.config.web
        swept = await self.core.executor.run(
            sweep_incoming, self.core.config.site.data_dir / "productions"
        )
        if swept:
            _LOGGER.info("Removed %d temporaries of interrupted uploads", swept)
        context = server_context(cfg.tls_cert, cfg.tls_key)
        site = web.TCPSite(self._runner, cfg.host, cfg.port, ssl_context=context)
        await site.start()
        _LOGGER.info("Admin UI on %s", site.name)
        self._held: asyncio.Task[None] | None = None
        if self.core.config.productions.antivirus.when_clamd_down == "hold":
            self._held = asyncio.create_task(self._release_held_forever(), name="preau-held")
        self._webdav: WebDavServer | None = None
        productions = self.core.config.productions
        if productions.enabled and productions.webdav_listen:
            host, _, port = productions.webdav_listen.rpartition(":")
            antivirus = productions.antivirus
            loop = asyncio.get_running_loop()
            store = self.core.shared(ProductionsStore)

            def record_usage(person: str) -> None:
                asyncio.run_coroutine_threadsafe(store.recount_pedagogical(person), loop).result(60)

            def record_personnel(person: str, stored: int, files: int) -> None:
                future = store.record_personnel_usage(person, stored, files)
                asyncio.run_coroutine_threadsafe(future, loop).result(60)

            self._webdav = WebDavServer(
                host=host.strip("[]"),
                port=int(port),
                root=self.core.config.site.data_dir / "productions" / "pedagogical",
                authenticate=directory_check(
                    self.core.directory.authenticate, store.open_identity, loop
                ),
                clamd_socket=antivirus.clamd_socket if antivirus.enabled else None,
                scan_wait=antivirus.timeout_seconds,
                quota=lambda role: quota_bytes(productions, role, "pedagogical"),
                record_usage=record_usage,
                personnel=PersonnelSettings(
                    self.core.config.site.data_dir / "productions" / "personnel",
                    antivirus.clamd_socket if antivirus.enabled else None,
                    antivirus.timeout_seconds,
                    lambda role: quota_bytes(productions, role, "personnel"),
                    record_personnel,
                ),
                throttle=self._app[THROTTLE_KEY],
                tls=(cfg.tls_cert, cfg.tls_key) if cfg.tls_cert and cfg.tls_key else None,
            )
            await self.core.executor.run(self._webdav.start)
            _LOGGER.info("WebDAV on %s", productions.webdav_listen)

    async def _release_held_forever(self) -> None:
        """Scan uploads held while clamd was down, once a minute."""
        store = self.core.shared(ProductionsStore)
        while True:
            await asyncio.sleep(HELD_SCAN_SECONDS)
            try:
                released, refused = await store.release_held()
            except Exception:
                _LOGGER.exception("Scanning held uploads failed")
                continue
            if released or refused:
                _LOGGER.info("Held uploads: %d let in, %d refused", released, refused)

    async def async_stop(self) -> None:
        """Stop listening and finish in-flight requests."""
        if self._held is not None:
            self._held.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._held
        if self._webdav is not None:
            await self.core.executor.run(self._webdav.stop)
        await self._runner.cleanup()

    async def async_health(self) -> Health:
        """Report the listening address."""
        cfg = self.core.config.web
        scheme = "https" if cfg.tls_cert else "http"
        return Health("ok", f"{scheme}://{cfg.host}:{cfg.port}/")

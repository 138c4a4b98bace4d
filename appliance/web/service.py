"""The web service: serves the admin UI and API on the configured address."""

from __future__ import annotations

import logging
from typing import ClassVar

from aiohttp import web

from appliance.i18n import N_
from appliance.service import Health, Service
from appliance.tls import server_context
from appliance.web.app import create_app

_LOGGER = logging.getLogger(__name__)


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
        context = server_context(cfg.tls_cert, cfg.tls_key)
        site = web.TCPSite(self._runner, cfg.host, cfg.port, ssl_context=context)
        await site.start()
        _LOGGER.info("Admin UI on %s", site.name)

    async def async_stop(self) -> None:
        """Stop listening and finish in-flight requests."""
        await self._runner.cleanup()

    async def async_health(self) -> Health:
        """Report the listening address."""
        cfg = self.core.config.web
        scheme = "https" if cfg.tls_cert else "http"
        return Health(
            "ok", N_("à l'écoute sur %(url)s"), {"url": f"{scheme}://{cfg.host}:{cfg.port}/"}
        )

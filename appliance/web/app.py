"""Build the admin web application around a core.

Everything the app needs is opened in one place: the session store and the
login throttle are created here and hang off typed ``AppKey`` s; the core's
resources are owned by the core. The kernel's pages and API come first, then
each registered feature's route tables and templates (:mod:`appliance.features`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from aiohttp import web

from appliance.first_run import pages as first_run_pages
from appliance.first_run.pages import FIRST_RUN_KEY, FirstRunGate, first_run_middleware
from appliance.i18n import Catalogues, merged_labels
from appliance.identity.second_factor_state import SecondFactors
from appliance.metrics import render_metrics
from appliance.web import (
    account_pages,
    api,
    dashboard_page,
    imports_pages,
    pages,
    second_factor_api,
    second_factor_pages,
    settings_pages,
    subgroups_api,
    subgroups_pages,
    teaching_pages,
)
from appliance.web.api_routes import (
    API_TABLES_KEY,
    ApiRoutes,
    ApiRoutesList,
)
from appliance.web.api_tokens import ApiTokens
from appliance.web.error_pages import error_pages_middleware
from appliance.web.errors import error_language_middleware
from appliance.web.keys import (
    API_TOKENS_KEY,
    CLOCK_KEY,
    CORE_KEY,
    PENDING_LOGINS_KEY,
    SECOND_FACTORS_KEY,
    SESSIONS_KEY,
    THROTTLE_KEY,
)
from appliance.web.labels import LABELS
from appliance.web.rendering import CATALOGUES_KEY, TEMPLATES_KEY, create_environment
from appliance.web.second_factor_login import ClockCheck, PendingLogins
from appliance.web.security import (
    csrf_middleware,
    on_response_prepare,
    session_middleware,
    storage_errors_middleware,
)
from appliance.web.sessions import SessionStore
from appliance.web.throttle import LoginThrottle

if TYPE_CHECKING:
    from appliance.core import Core

_HERE: Final = Path(__file__).parent
# Admin forms are small; uploads belong to the storage service.
CLIENT_MAX_SIZE: Final = 64 * 1024


async def metrics(request: web.Request) -> web.StreamResponse:
    """Serve the Prometheus exposition."""
    body = await render_metrics(request.app[CORE_KEY])
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


async def healthz(request: web.Request) -> web.StreamResponse:
    """Answer liveness probes."""
    return web.json_response({"status": "ok"})


def create_app(core: Core) -> web.Application:
    """Return the admin application wired to ``core``."""
    app = web.Application(
        middlewares=[
            error_language_middleware,
            storage_errors_middleware,
            session_middleware,
            error_pages_middleware,
            first_run_middleware,
            csrf_middleware,
        ],
        client_max_size=CLIENT_MAX_SIZE,
    )
    app.on_response_prepare.append(on_response_prepare)
    app[CORE_KEY] = core
    web_config = core.config.web
    app[SESSIONS_KEY] = SessionStore(
        core.db,
        idle_seconds=web_config.session_idle_minutes * 60,
        absolute_seconds=web_config.session_absolute_hours * 3600,
    )
    app[THROTTLE_KEY] = LoginThrottle(web_config.throttle)
    app[SECOND_FACTORS_KEY] = SecondFactors(core.db, core.executor)
    app[PENDING_LOGINS_KEY] = PendingLogins()
    app[CLOCK_KEY] = ClockCheck(web_config.clock)
    app[API_TOKENS_KEY] = ApiTokens(core.db)
    app[FIRST_RUN_KEY] = FirstRunGate()
    catalogues = Catalogues(
        ["appliance", *(f.translations for f in core.features if f.translations is not None)]
    )
    app[CATALOGUES_KEY] = catalogues
    app[TEMPLATES_KEY] = create_environment(
        [f.templates_package for f in core.features if f.templates_package is not None],
        catalogues,
        merged_labels([("appliance", LABELS), *((f.name, f.labels) for f in core.features)]),
    )
    tables: list[web.RouteTableDef] = [
        pages.routes,
        account_pages.routes,
        settings_pages.routes,
        second_factor_pages.routes,
        dashboard_page.routes,
        first_run_pages.routes,
        api.api,
        second_factor_api.api,
        subgroups_api.api,
        subgroups_pages.routes,
        teaching_pages.routes,
        imports_pages.routes,
    ]
    for feature in core.features:
        tables += feature.routes
        app.cleanup_ctx.extend(feature.web_lifecycle)
    for table in tables:
        app.add_routes(table)
    app[API_TABLES_KEY] = ApiRoutesList(t for t in tables if isinstance(t, ApiRoutes))
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static", _HERE / "static")
    return app

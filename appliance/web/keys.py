"""Typed keys for what the web app and its requests carry."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from appliance.core import Core
from appliance.web.sessions import SessionStore, WebSession
from appliance.web.throttle import LoginThrottle

CORE_KEY: Final = web.AppKey("core", Core)
SESSIONS_KEY: Final = web.AppKey("sessions", SessionStore)
THROTTLE_KEY: Final = web.AppKey("throttle", LoginThrottle)
SESSION_KEY: Final = web.RequestKey[WebSession | None]("session")
LANG_KEY: Final = web.RequestKey("lang", str)

SESSION_COOKIE: Final = "preau_session"
LOGIN_CSRF_COOKIE: Final = "preau_login_csrf"
DEVICE_COOKIE: Final = "preau_device"
LANG_COOKIE: Final = "preau_lang"

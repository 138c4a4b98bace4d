"""Typed keys for what the web app and its requests carry."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from appliance.core import Core
from appliance.identity.second_factor_state import SecondFactors
from appliance.web.api_tokens import ApiTokens
from appliance.web.second_factor_login import ClockCheck, PendingLogins
from appliance.web.sessions import SessionStore, WebSession
from appliance.web.throttle import LoginThrottle

CORE_KEY: Final = web.AppKey("core", Core)
SESSIONS_KEY: Final = web.AppKey("sessions", SessionStore)
THROTTLE_KEY: Final = web.AppKey("throttle", LoginThrottle)
SECOND_FACTORS_KEY: Final = web.AppKey("second_factors", SecondFactors)
PENDING_LOGINS_KEY: Final = web.AppKey("pending_logins", PendingLogins)
CLOCK_KEY: Final = web.AppKey("clock", ClockCheck)
API_TOKENS_KEY: Final = web.AppKey("api_tokens", ApiTokens)
SESSION_KEY: Final = web.RequestKey[WebSession | None]("session")
LANG_KEY: Final = web.RequestKey("lang", str)

SESSION_COOKIE: Final = "preau_session"
LOGIN_CSRF_COOKIE: Final = "preau_login_csrf"
DEVICE_COOKIE: Final = "preau_device"
SECOND_STEP_COOKIE: Final = "preau_second_step"
LANG_COOKIE: Final = "preau_lang"

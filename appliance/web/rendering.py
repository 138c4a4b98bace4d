"""Server-side templates: one Jinja2 environment per app, autoescaped.

Every page gets the same base context (language, session, CSRF
token) from :func:`page_context`; handlers return their own context and
:func:`page` renders it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import jinja2
from aiohttp import web

from appliance.features import VISITOR
from appliance.i18n import SOURCE_LANGUAGE, Catalogues, Gettext, install_in
from appliance.problems import Problem, problem_of
from appliance.web.keys import CORE_KEY, LANG_KEY, SESSION_KEY

if TYPE_CHECKING:
    from appliance.core import Core

TEMPLATES_KEY: Final = web.AppKey("templates", jinja2.Environment)
CATALOGUES_KEY: Final = web.AppKey("catalogues", Catalogues)
_FOLDER: Final = Path(__file__).parent / "templates"

PageHandler = Callable[[web.Request], Awaitable[dict[str, Any]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_environment(
    packages: Sequence[str] = (),
    catalogues: Catalogues | None = None,
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> jinja2.Environment:
    """Return the template environment (autoescape on, strict undefined, gettext).

    The kernel's templates (the base layout among them) come first, then each
    feature package's ``templates/admin`` folder.
    """
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(_FOLDER)]
    loaders += [jinja2.PackageLoader(package, "templates/admin") for package in packages]
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        # Templates come with the package and change only with it: no stat() per page.
        auto_reload=False,
    )
    install_in(environment, catalogues or Catalogues(()), labels)
    return environment


def request_gettext(request: web.Request) -> Gettext:
    """Return ``_(message, **values)`` in the request's language."""
    # A failure before the session middleware ran (the disk, in the session lookup) has none.
    return request.app[CATALOGUES_KEY].gettext_for(request.get(LANG_KEY) or SOURCE_LANGUAGE)


def say(request: web.Request, message: str | Problem | BaseException, **values: object) -> str:
    """Return a refusal (or a message id marked ``N_``) in the request's language."""
    problem = Problem(message, values) if isinstance(message, str) else problem_of(message)
    return problem.said(request_gettext(request))


def local_time(core: Core, iso: str | None) -> str:
    """Return an ISO instant as the school's local date and time ("—" if none)."""
    if not iso:
        return "—"
    when = dt.datetime.fromisoformat(iso).astimezone(core.config.site.zone)
    return when.strftime("%d/%m/%Y %H:%M")


def page_context(request: web.Request) -> dict[str, Any]:
    """Return what every template sees."""
    session = request[SESSION_KEY]
    lang = request[LANG_KEY]
    return {
        "lang": lang,
        "other_lang": "en" if lang == "fr" else "fr",
        "feature_menu": [
            entry
            for feature in request.app[CORE_KEY].features
            for entry in feature.menu
            if (session.role if session is not None else VISITOR) in entry.roles
        ],
        "session": session,
        "csrf_token": session.csrf_token if session else "",
        "site_name": request.app[CORE_KEY].config.site.name,
        "path": request.path,
    }


def render(
    request: web.Request, name: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    """Render template ``name`` with the base context plus ``context``."""
    template = request.app[TEMPLATES_KEY].get_template(name)
    body = template.render({**page_context(request), **context})
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def page(name: str) -> Callable[[PageHandler], Handler]:
    """Render the context a handler returns with template ``name``."""

    def decorate(handler: PageHandler) -> Handler:
        @wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            return render(request, name, await handler(request))

        return wrapped

    return decorate


def size_text(count: int) -> str:
    """Return a byte count for people (French units and decimal comma: « 5,4 Mo »)."""
    for unit, scale in (("To", 1e12), ("Go", 1e9), ("Mo", 1e6), ("ko", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f}".replace(".", ",") + f" {unit}"
    return f"{count} o"

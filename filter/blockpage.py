"""The block page: why a site is blocked, and a way to ask for it.

Groups whose blocked answers point at the block page's address land here
over HTTP (HTTPS sites cannot show it without a certificate warning: they get
NXDOMAIN with an Extended DNS Error instead). The page says which category
blocked the site (in words, not UT1's identifier) and offers "demander le
déblocage", in the language the browser asks for (French by default; a link
switches), from the filter's gettext catalogue. The request reaches the
referent's UI with the domain, category and group, never the pupil's address
or identity.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

import jinja2
from aiohttp import web

from appliance.i18n import LANGUAGES, N_, Catalogues, install_in, language_of
from filter import state as filtering
from filter.labels import LABELS

if TYPE_CHECKING:
    from appliance.core import Core
    from filter.engine import FilterEngine

BLOCKPAGE_KEY: Final = web.AppKey("blockpage", object)


class BlockPage:
    """The aiohttp app of the block page, bound to the filter's engine."""

    def __init__(self, core: Core, engine: FilterEngine) -> None:
        """Keep what the page needs to explain decisions and store requests."""
        self.core = core
        self.engine = engine
        self._catalogues = Catalogues(["appliance", "filter"])
        self._pages = jinja2.Environment(
            loader=jinja2.PackageLoader("filter", "templates/blockpage"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        install_in(self._pages, self._catalogues, LABELS)

    def _render(self, name: str, lang: str, status: int = 200, **values: object) -> web.Response:
        other = next(language for language in LANGUAGES if language != lang)
        page = self._pages.get_template(name).render(lang=lang, other_lang=other, **values)
        return web.Response(text=page, status=status, content_type="text/html", headers=_HEADERS)

    @staticmethod
    def _language(request: web.Request, chosen: object = None) -> str:
        """Return the reader's language: the link or form they used, else their browser's."""
        asked = chosen if isinstance(chosen, str) else request.query.get("lang")
        return language_of(asked, request.headers.get("Accept-Language", ""))

    def app(self) -> web.Application:
        """Return the block page application."""
        app = web.Application(client_max_size=8 * 1024)
        app[BLOCKPAGE_KEY] = self
        app.router.add_post("/demande", self.request_unblock)
        app.router.add_route("GET", "/{tail:.*}", self.show)
        return app

    def _explain(self, request: web.Request, domain: str) -> tuple[str, str]:
        client = self.engine.clients.resolve(request.remote or "")
        try:
            decision = self.engine.explain(domain, client, time.time())
        except ValueError:
            return "", client.group
        return decision.category if decision.blocked else "", client.group

    async def show(self, request: web.Request) -> web.StreamResponse:
        """Say why the site asked for is blocked, in the reader's language."""
        domain = (request.host or "").rsplit(":", 1)[0].lower()
        category, _group = self._explain(request, domain)
        lang = self._language(request)
        return self._render("blocked.html", lang, 403, domain=domain, category=category)

    async def request_unblock(self, request: web.Request) -> web.StreamResponse:
        """Store an unblock request."""
        form = await request.post() if _same_site(request) else None
        lang = self._language(request, form.get("lang") if form is not None else None)
        say = self._catalogues.gettext_for(lang)
        if form is None:
            text = say(N_("Demande refusée : elle vient d'un autre site."))
            raise web.HTTPForbidden(text=text, headers=_HEADERS)
        domain = str(form.get("domain", ""))
        category, group = self._explain(request, domain)
        try:
            await filtering.add_unblock_request(
                self.core,
                domain=domain,
                category=category or str(form.get("category", ""))[:64],
                group=group,
                message=str(form.get("message", "")),
            )
        except filtering.FilterStateError as err:
            raise web.HTTPBadRequest(text=err.problem.said(say), headers=_HEADERS) from err
        return self._render("sent.html", lang)


def _same_site(request: web.Request) -> bool:
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

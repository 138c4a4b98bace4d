"""The block page: why a site is blocked, and a way to ask for it.

Groups whose blocked answers point at the block page's address land here
over HTTP (HTTPS sites cannot show it without a certificate warning: they get
NXDOMAIN with an Extended DNS Error instead). The page says, in French first,
which category blocked the site and offers "demander le déblocage"; the
request reaches the referent's UI with the domain, category and group, never
the pupil's address or identity.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Final

from aiohttp import web

from filter import state as filtering

if TYPE_CHECKING:
    from appliance.core import Core
    from filter.engine import FilterEngine

BLOCKPAGE_KEY: Final = web.AppKey("blockpage", object)

_PAGE: Final = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Site bloqué · Blocked site</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b}}h1{{font-size:1.5rem}}.box{{border-left:4px solid #000091;padding:.5rem 1rem;
background:#f6f6f6}}label{{display:block;margin-top:1rem;font-weight:600}}textarea{{width:100%;
min-height:5rem;font:inherit}}button{{margin-top:1rem;min-height:44px;padding:.5rem 1rem;
color:#fff;background:#000091;border:0;border-radius:.25rem}}</style></head><body>
<main>{body}</main></body></html>"""


class BlockPage:
    """The aiohttp app of the block page, bound to the filter's engine."""

    def __init__(self, core: Core, engine: FilterEngine) -> None:
        """Keep what the page needs to explain decisions and store requests."""
        self.core = core
        self.engine = engine

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
        """Say why the site asked for is blocked."""
        domain = (request.host or "").rsplit(":", 1)[0].lower()
        category, _group = self._explain(request, domain)
        safe = html.escape(domain)
        reason = f"<p>Catégorie : <strong>{html.escape(category)}</strong>.</p>" if category else ""
        body = (
            "<h1>Ce site est bloqué dans l'établissement</h1>"
            f'<div class="box"><p><strong>{safe}</strong></p>{reason}</div>'
            "<p>Le filtrage protège les élèves pendant le temps scolaire. Si vous avez besoin "
            "de ce site pour un travail, demandez son déblocage : le référent numérique "
            "verra votre demande (sans votre nom).</p>"
            '<form method="post" action="/demande">'
            f'<input type="hidden" name="domain" value="{safe}">'
            f'<input type="hidden" name="category" value="{html.escape(category)}">'
            '<label for="message">Pourquoi en avez-vous besoin ? (facultatif)</label>'
            '<textarea id="message" name="message" maxlength="500"></textarea>'
            '<button type="submit">Demander le déblocage</button></form>'
            '<p lang="en">This site is blocked at school. You can ask for it to be '
            "unblocked; the IT referent sees the request, not your name.</p>"
            "<p><small>Listes UT1 (Université Toulouse Capitole, CC BY-SA).</small></p>"
        )
        return web.Response(
            text=_PAGE.format(body=body),
            status=403,
            content_type="text/html",
            headers=_HEADERS,
        )

    async def request_unblock(self, request: web.Request) -> web.StreamResponse:
        """Store an unblock request."""
        if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            raise web.HTTPForbidden(text="cross-site request")
        form = await request.post()
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
            raise web.HTTPBadRequest(text=str(err)) from err
        body = (
            "<h1>Demande envoyée</h1><p>Le référent numérique de l'établissement a reçu "
            'votre demande.</p><p lang="en">Your request was sent to the IT referent.</p>'
        )
        return web.Response(
            text=_PAGE.format(body=body), content_type="text/html", headers=_HEADERS
        )


_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

"""The portal's HTTP side: OS probes, login pages, vouchers, RFC 8908 API, status."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import Any

from aiohttp import web

from appliance.i18n import language_of, octets_text
from appliance.network_clients import CLIENTS_TOPIC
from captive_portal import state as portal_admin
from captive_portal.accounting import Accounting
from captive_portal.config import PortalConfig
from captive_portal.nftables import NftError
from captive_portal.portal_base import (
    ARP_TABLE,
    MAX_BODY,
    PORTAL_KEY,
    RESUME_COOKIE,
    StoreRequest,
    mac_of,
)
from captive_portal.probes import CAPTIVE_JSON, CaptiveState, probe_answer
from captive_portal.sessions import (
    RolePolicy,
    Session,
    login,
)

_LOGGER = logging.getLogger(__name__)


class PortalHttp(Accounting):
    """The portal's HTTP side: OS probes, login pages, vouchers, RFC 8908 API, status."""

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._guard_middleware])
        app[PORTAL_KEY] = self
        app.router.add_get("/login", self.login_page)
        app.router.add_post("/login", self.login_submit)
        app.router.add_post("/voucher", self.voucher_submit)
        app.router.add_post("/resume", self.resume_submit)
        app.router.add_post("/logout", self.logout_submit)
        app.router.add_get("/api/captive", self.captive_api)
        app.router.add_get("/status", self.status_page)
        app.router.add_get("/charte", self.charter_page)
        app.router.add_route("GET", "/{tail:.*}", self.anything)
        return app

    def _url(self, path: str) -> str:
        cfg = self.core.config.section(PortalConfig)
        host = cfg.hostname or cfg.address
        if cfg.tls_cert is not None:
            port = "" if cfg.https_port == 443 else f":{cfg.https_port}"
            return f"https://{host}{port}{path}"
        port = "" if cfg.http_port == 80 else f":{cfg.http_port}"
        return f"http://{host}{port}{path}"

    def api_url(self) -> str:
        """Return the RFC 8908 API's URL (HTTPS when the portal has a certificate)."""
        return self._url("/api/captive")

    @web.middleware
    async def _guard_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        address = request.remote or ""
        if not self._limits.allow_request(address, time.monotonic()):
            return self._message(request, "err_slow", 429, headers={"Retry-After": "5"})
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return self._message(request, "err_large", 413)
        return response

    def _lang(self, request: web.Request) -> str:
        return language_of(request.query.get("lang"), request.headers.get("Accept-Language", ""))

    def _html(
        self, text: str, status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.Response(
            text=text,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers={
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
                " img-src data:;"
                " form-action 'self'; frame-ancestors 'none'",
                "Referrer-Policy": "no-referrer",
                **(headers or {}),
            },
        )

    def _message(
        self, request: web.Request, key: str, status: int, headers: dict[str, str] | None = None
    ) -> web.Response:
        lang = self._lang(request)
        text = self._pages.render(
            "message",
            lang,
            error=self._pages_text(lang, key),
            school=self._school(),
            help_text=self._help_text(),
            online=self._online(request) is not None,  # the way on: the status or the form
        )
        return self._html(text, status, headers)

    def _help_text(self) -> str:
        """Return the referent's help sentence ('' for the general one, in the reader's words)."""
        return self.core.config.section(PortalConfig).help_text

    def _school(self) -> str:
        """Return the school's name (the schools' names when the box serves several)."""
        return " · ".join(school.name for school in self.core.config.site.schools)

    def _pages_text(self, lang: str, key: str) -> str:
        return self._pages.message(lang, key)

    def _online(self, request: web.Request) -> Session | None:
        user = self.by_ip.get(request.remote or "")
        session = self.sessions.get(user) if user else None
        if session is None or session.ends_at <= time.time():
            return None
        return session

    async def _attached(self, request: web.Request) -> bool:
        """Say whether this very device (its address and its MAC) is online."""
        session = self._online(request)
        if session is None:
            return False
        address = request.remote or ""
        mac = mac_of(await self.core.executor.run(ARP_TABLE.read_text), address)
        return any(d.ip == address and d.mac == mac for d in session.devices)

    async def anything(self, request: web.Request) -> web.StreamResponse:
        """Answer OS probes exactly once online; send everything else to the login page."""
        answer = probe_answer(request.host, request.path)
        if self._online(request) is not None and answer is not None:
            return web.Response(
                status=answer.status, body=answer.body, content_type=answer.content_type
            )
        raise web.HTTPFound(self._url("/login"))

    async def captive_api(self, request: web.Request) -> web.StreamResponse:
        """The RFC 8908 API for this device."""
        session = self._online(request)
        quota = None
        if session is not None:
            policy = self.policies.get(session.role)
            if policy is not None and policy.quota_bytes is not None and not policy.fair_use:
                quota = max(0, policy.quota_bytes - session.bytes_used)
        state = CaptiveState(
            captive=session is None,
            portal_url=self._url("/login"),
            seconds_remaining=int(session.ends_at - time.time()) if session else None,
            bytes_remaining=quota,
            venue_url=self._url("/status") if session else "",
            can_extend=False,
        )
        return web.json_response(
            state.as_json(), content_type=CAPTIVE_JSON, headers={"Cache-Control": "private"}
        )

    async def _resume_user(self, request: web.Request) -> str:
        token = request.cookies.get(RESUME_COOKIE, "")
        if not token or len(token) > 64:
            return ""
        row = await self.core.db.fetchone(
            "SELECT user FROM portal_resume WHERE token_hash = ? AND expires_at > ?",
            (hashlib.sha256(token.encode()).hexdigest(), time.time()),
        )
        if row is None or row["user"] not in self.sessions:
            return ""
        return str(row["user"])

    async def login_page(
        self, request: web.Request, error: str = "", status: int = 200, login: str = ""
    ) -> web.Response:
        """The login form with the charter, the guest voucher form, "continue as"."""
        if not error and await self._attached(request):
            raise web.HTTPFound(self._url("/status"))  # already online: its status, not a form
        lang = self._lang(request)
        address = request.remote or ""
        notice = self._pages_text(lang, "logged_out") if "out" in request.query else ""
        text = self._pages.render(
            "login",
            lang,
            error=self._pages_text(lang, error) if error else "",
            notice=notice,
            form_token=self._forms.issue(address, time.monotonic()),
            charter_version=self.charter.version,
            charter_text=self.charter.text,
            guest_charter_version=self.guest_charter.version,
            guest_charter_text=self.guest_charter.text,
            resume_user=await self._resume_user(request),
            login=login,
            school=self._school(),
            help_text=self._help_text(),
        )
        return self._html(text, 401 if error and status == 200 else status)

    async def charter_page(self, request: web.Request) -> web.StreamResponse:
        """The charter on a page of its own (``?visiteur=1``: the visitors'), printable."""
        charter = self.guest_charter if request.query.get("visiteur") == "1" else self.charter
        text = self._pages.render(
            "charter",
            self._lang(request),
            charter_version=charter.version,
            charter_text=charter.text,
            school=self._school(),
            help_text=self._help_text(),
            online=self._online(request) is not None,
        )
        return self._html(text)

    async def _checked_form(self, request: web.Request) -> tuple[Any, str | None]:
        """Read a posted form; return it and an error key if it must be refused."""
        form = await request.post()
        address = request.remote or ""
        if not self._forms.redeem(str(form.get("form_token", "")), address, time.monotonic()):
            return form, "err_form"
        return form, None

    async def _login_form(
        self, request: web.Request, *, guest: bool = False
    ) -> tuple[Any, web.Response | None]:
        """Read a login or voucher form; refuse a replay, a flood or a missing charter.

        A visitor accepts the visitors' charter, everyone else the charter in force.
        """
        form, problem = await self._checked_form(request)
        if problem:
            return form, await self.login_page(request, problem, 400)
        if not self._limits.allow_login(request.remote or "", time.monotonic()):
            return form, await self.login_page(request, "err_slow", 429)
        charter = self.guest_charter if guest else self.charter
        if form.get("charter") != "accepted" or form.get("charter_version") != charter.version:
            return form, await self.login_page(request, "err_charter")
        return form, None

    async def _attach(
        self,
        request: web.Request,
        user: str,
        role: str,
        class_name: str,
        level: str,
        *,
        ends_at: float | None = None,
        max_devices: int | None = None,
    ) -> web.StreamResponse:
        """Attach the requesting device to ``user``'s session and open the gate."""
        address = request.remote or ""
        arp = await self.core.executor.run(ARP_TABLE.read_text)
        mac = mac_of(arp, address)
        if mac is None:
            return await self.login_page(request, "err_device")
        owner = self.by_ip.get(address)
        if owner is not None and owner != user:
            # The address is another account's device: a MAC/IP pair spoofing it
            # must not take over that person's identity for the filter.
            other = self.sessions.get(owner)
            if other is not None and any(d.ip == address and d.mac != mac for d in other.devices):
                return await self.login_page(request, "err_address", 409)
        policy = self.policies.get(role, self.policies["guest"])
        if max_devices is not None:
            policy = RolePolicy(
                hard_seconds=policy.hard_seconds,
                idle_seconds=policy.idle_seconds,
                max_devices=max_devices,
                concurrent="refuse",
                quota_bytes=policy.quota_bytes,
                fair_use=policy.fair_use,
            )
        now = time.time()
        existing = self.sessions.get(user)
        used_today = 0 if existing else await self._used_today(user, now)
        async with self._lock:
            result = login(
                self.sessions.get(user),
                user,
                role,
                mac,
                address,
                now,
                policy,
                day_ends_at=self._school_day_end(now),
                used_today=used_today,
                ends_at=ends_at,
            )
            if result.session is None or result.refused:
                return await self.login_page(request, f"refused_{result.refused}", 403)
            if owner is not None and owner != user:
                await self._detach_locked(owner, address)
            try:
                await self._apply_gate(result.gate)
            except NftError:
                _LOGGER.exception("Could not open the gate for a device")
                return await self.login_page(request, "err_portal", 500)
            session = result.session
            self.sessions[user] = session
            for _old_mac, old_ip in result.gate.close:
                self.by_ip.pop(old_ip, None)
            self.by_ip[address] = user
            self.classes[user] = (class_name, level)
            if self._rate_of(session) is not None or (
                result.gate.close and self.core.config.section(PortalConfig).ipv6_prefix
            ):
                await self.reconcile()  # rate sets, and IPv6 of replaced devices
        token = secrets.token_urlsafe(24)
        await self._store(StoreRequest(session, class_name, level, mac, token, address))
        response = web.HTTPFound(self._url("/status"))
        response.set_cookie(
            RESUME_COOKIE,
            token,
            max_age=max(60, int(session.ends_at - now)),
            httponly=True,
            samesite="Strict",
            path="/",
            secure=request.secure,  # set over HTTPS, never sent in clear
        )
        raise response

    async def login_submit(self, request: web.Request) -> web.StreamResponse:
        """Check the account and the charter, then open the gate for this device."""
        form, refusal = await self._login_form(request)
        if refusal is not None:
            return refusal
        address = request.remote or ""
        login_name = str(form.get("login", ""))[:128]
        outcome = await self.core.directory.authenticate(
            login_name, str(form.get("password", ""))[:256]
        )
        if outcome.person is None or outcome.role is None:
            await self.core.audit.record(
                actor=login_name, source=address, action="portal.login", outcome="failure"
            )
            return await self.login_page(request, "err_credentials", login=login_name)
        person = outcome.person
        return await self._attach(request, person.id, outcome.role, person.class_name, person.level)

    async def voucher_submit(self, request: web.Request) -> web.StreamResponse:
        """Log a visitor in with a printed voucher code."""
        form, refusal = await self._login_form(request, guest=True)
        if refusal is not None:
            return refusal
        address = request.remote or ""
        grant = await portal_admin.redeem_voucher(self.core, str(form.get("code", ""))[:20])
        if grant is None:
            await self.core.audit.record(
                actor="invite", source=address, action="portal.voucher", outcome="failure"
            )
            return await self.login_page(request, "err_voucher")
        return await self._attach(
            request,
            grant.user,
            "guest",
            "",
            "",
            ends_at=grant.ends_at,
            max_devices=grant.max_devices,
        )

    async def resume_submit(self, request: web.Request) -> web.StreamResponse:
        """Re-attach this device to its owner's open session (one tap after a MAC change)."""
        _form, problem = await self._checked_form(request)
        if problem:
            return await self.login_page(request, problem, 400)
        user = await self._resume_user(request)
        if not user:
            return await self.login_page(request, "err_form", 400)
        session = self.sessions[user]
        class_name, level = self.classes.get(user, ("", ""))
        return await self._attach(request, user, session.role, class_name, level)

    async def logout_submit(self, request: web.Request) -> web.StreamResponse:
        """Log this device out, or every device of the account (``scope=all``).

        The page offers both: "this device" keeps the person's other devices
        online (a phone logged out in class leaves the laptop alone); "all my
        devices" ends the session. The session also ends with its last device.
        """
        form, problem = await self._checked_form(request)
        if problem:
            if self._online(request) is not None:
                # A status page left open past its form's life: never a dead end while
                # the device is still online; the same page again, with a fresh button.
                return await self.status_page(request, notice="err_form_again", status=409)
            return self._message(request, "err_form", 400)
        address = request.remote or ""
        user = self.by_ip.get(address)
        if user is not None:
            every = str(form.get("scope", "")) == "all"
            async with self._lock:
                session = self.sessions.get(user)
                addresses = [d.ip for d in session.devices] if session and every else [address]
                for ip in addresses:
                    await self._detach_locked(user, ip)
                    self.by_ip.pop(ip, None)
                remaining = self.sessions.get(user)
            async with self.core.db.write() as tx:
                for ip in addresses:
                    await tx.execute("DELETE FROM portal_devices WHERE ip = ?", (ip,))
                    await tx.execute("DELETE FROM network_clients WHERE address = ?", (ip,))
                if remaining is None:
                    await tx.execute("DELETE FROM portal_sessions WHERE user = ?", (user,))
                    await tx.execute("DELETE FROM portal_resume WHERE user = ?", (user,))
                await tx.notify(CLIENTS_TOPIC)
            await self.core.audit.record(
                actor=user, source=address, action="portal.logout", outcome="success",
                detail="every device" if every else "this device",
            )  # fmt: skip
        response = web.HTTPFound(self._url("/login?out=1"))
        response.del_cookie(RESUME_COOKIE, path="/")
        raise response

    async def status_page(
        self, request: web.Request, notice: str = "", status: int = 200
    ) -> web.StreamResponse:
        """Time and data left, my devices by name, log out."""
        session = self._online(request)
        if session is None:
            raise web.HTTPFound(self._url("/login"))
        lang = self._lang(request)
        policy = self.policies.get(session.role)
        quota = policy.quota_bytes if policy else None
        seconds = int(session.ends_at - time.time())
        address = request.remote or ""
        macs = [d.mac for d in session.devices]
        marks = ",".join("?" * len(macs))
        names = {
            str(row["mac"]): str(row["hostname"])
            for row in await self.core.db.fetchall(
                f"SELECT mac, hostname FROM portal_dhcp_devices WHERE mac IN ({marks})",  # noqa: S608
                macs,
            )
            if row["hostname"]
        }
        text = self._pages.render(
            "status",
            lang,
            user=session.user,
            school=self._school(),
            help_text=self._help_text(),
            online=True,
            notice=self._pages_text(lang, notice) if notice else "",
            time_left=f"{seconds // 3600} h {seconds % 3600 // 60:02d} min",
            used=octets_text(session.bytes_used, lang),
            quota=octets_text(quota, lang) if quota else "",
            throttled=session.throttled,
            devices=[
                {
                    "name": names.get(d.mac, ""),  # the name it gave DHCP, before its address
                    "mac": d.mac,
                    "randomised": d.randomised,
                    "current": d.ip == address,
                }
                for d in session.devices
            ],
            form_token=self._forms.issue(address, time.monotonic()),
        )
        return self._html(text, status)

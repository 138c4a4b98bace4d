"""The portal service: probes, login with the charter, RFC 8908, the kernel gate.

Runs in the privileged unit (``CAP_NET_ADMIN``), on the BYOD side only. A
device's MAC comes from the kernel's neighbour table, never from the client.
Sessions live in the state DB and are put back into the kernel at start,
before the portal answers, so a restart logs nobody out. The person logged in
on an address is written to ``network_clients`` for the DNS filter.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final

from aiohttp import web

from appliance import filtering
from appliance.atomic import write_atomic
from appliance.audit import utc_now_iso
from appliance.service import Health, Service
from captive_portal import ruleset
from captive_portal.dhcp import DNSMASQ, DhcpSettings, render_dnsmasq
from captive_portal.nftables import NftError, NftTable
from captive_portal.probes import CAPTIVE_JSON, CaptiveState, probe_answer
from captive_portal.sessions import Device, RolePolicy, Session, login, sweep

if TYPE_CHECKING:
    pass

_LOGGER = logging.getLogger(__name__)

ARP_TABLE: Final = Path("/proc/net/arp")
PORTAL_KEY: Final = web.AppKey("portal", object)
_PAGE: Final = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:1.5rem auto;
padding:0 1rem}} label{{display:block;margin-top:.75rem;font-weight:600}}
input[type=text],input[type=password]{{width:100%;min-height:44px;font:inherit}}
button{{margin-top:1rem;min-height:44px;padding:.5rem 1rem;color:#fff;background:#000091;
border:0}} .alert{{border-left:4px solid #ce0500;padding:.5rem}}</style>
</head><body><main>{body}</main></body></html>"""


def mac_of(arp_text: str, ip: str) -> str | None:
    """Return the MAC the kernel knows for ``ip`` (from /proc/net/arp), or None."""
    for line in arp_text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[0] == ip and fields[3] != "00:00:00:00:00:00":
            return fields[3].lower()
    return None


class PortalService(Service):
    """Let logged-in people's devices through; send everybody else to the login page."""

    name: ClassVar[str] = "portal"

    async def async_setup(self) -> None:
        """Load the table and put unexpired sessions back into the kernel."""
        cfg = self.core.config.portal
        self.table = NftTable()
        self.network = ruleset.PortalNetwork(
            cfg.byod_interface, cfg.wan_interface, cfg.address, cfg.http_port
        )
        await self.core.executor.run(self.table.load, ruleset.render_table(self.network))
        self.policy = RolePolicy(
            hard_seconds=cfg.hard_minutes * 60,
            idle_seconds=cfg.idle_minutes * 60,
            max_devices=cfg.max_devices,
        )
        self.sessions: dict[str, Session] = {}
        self.by_ip: dict[str, str] = {}
        self._last: dict[tuple[str, str], tuple[int, int]] = {}
        await self._restore()
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()

    async def _restore(self) -> None:
        now = time.time()
        rows = await self.core.db.fetchall(
            "SELECT s.user, s.role, s.started_at, s.ends_at, s.bytes_used, d.mac, d.ip,"
            " d.attached_at, d.last_active, d.randomised FROM portal_sessions s"
            " JOIN portal_devices d ON d.user = s.user WHERE s.ends_at > ?",
            (now,),
        )
        commands = []
        for row in rows:
            session = self.sessions.get(row["user"]) or Session(
                row["user"],
                row["role"],
                row["started_at"],
                row["ends_at"],
                bytes_used=row["bytes_used"],
            )
            device = Device(
                row["mac"],
                row["ip"],
                row["attached_at"],
                row["last_active"],
                bool(row["randomised"]),
            )
            self.sessions[row["user"]] = Session(
                session.user,
                session.role,
                session.started_at,
                session.ends_at,
                (*session.devices, device),
                session.bytes_used,
            )
            self.by_ip[row["ip"]] = row["user"]
            commands += ruleset.authorise(row["mac"], row["ip"], int(row["ends_at"] - now))
        await self.core.executor.run(self.table.apply, commands)
        if rows:
            _LOGGER.info("Restored %d devices of %d sessions", len(rows), len(self.sessions))

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024)
        app[PORTAL_KEY] = self
        app.router.add_get("/login", self.login_page)
        app.router.add_post("/login", self.login_submit)
        app.router.add_get("/api/captive", self.captive_api)
        app.router.add_get("/status", self.status_page)
        app.router.add_route("GET", "/{tail:.*}", self.anything)
        return app

    async def async_start(self) -> None:
        """Serve the portal and DHCP on the BYOD side and start sampling counters."""
        cfg = self.core.config.portal
        await web.TCPSite(self._runner, cfg.address, cfg.http_port).start()
        self._dhcp: asyncio.subprocess.Process | None = None
        if cfg.dhcp:
            folder = self.core.config.site.data_dir / "portal"
            settings = DhcpSettings(
                interface=cfg.byod_interface,
                router=cfg.address,
                dns_server=cfg.address,
                first=cfg.dhcp_first,
                last=cfg.dhcp_last,
                lease_minutes=cfg.lease_minutes,
                captive_api_url=cfg.captive_api_url or self._url("/api/captive"),
            )
            conf = folder / "dnsmasq.conf"
            text = render_dnsmasq(settings, folder / "dhcp.leases")
            await self.core.executor.run(write_atomic, conf, text)
            self._dhcp = await asyncio.create_subprocess_exec(
                DNSMASQ,
                "--keep-in-foreground",
                f"--conf-file={conf}",
                "--pid-file=",
                "--log-facility=-",
            )
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="preau-portal-sweep")

    async def async_stop(self) -> None:
        """Stop serving; the kernel keeps the sessions (they expire by themselves)."""
        self._sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sweeper
        if self._dhcp is not None and self._dhcp.returncode is None:
            self._dhcp.terminate()
            await self._dhcp.wait()
        await self._runner.cleanup()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.core.config.portal.sweep_seconds)
            try:
                await self.sweep_once()
            except Exception:
                _LOGGER.exception("Portal sweep failed")

    async def sweep_once(self) -> None:
        """Sample the kernel counters into usage, and apply idle, hard and quota limits."""
        counters = await self.core.executor.run(self.table.counters)
        now = time.time()
        deltas: dict[str, tuple[int, int]] = {}
        for entry in counters:
            key = (entry.mac, entry.ip)
            last_up, last_down = self._last.get(key, (0, 0))
            up = max(0, entry.up_bytes - last_up)
            down = max(0, entry.down_bytes - last_down)
            self._last[key] = (entry.up_bytes, entry.down_bytes)
            deltas[entry.mac] = (up, down)
        day = time.strftime("%Y-%m-%d", time.localtime(now))
        commands: list[dict[str, object]] = []
        usage: list[tuple[str, str, str, int, int]] = []
        ended: list[str] = []
        closed: list[str] = []
        for user, session in list(self.sessions.items()):
            activity = {}
            for device in session.devices:
                up, down = deltas.get(device.mac, (0, 0))
                activity[device.mac] = (up + down, False)
                if up or down:
                    usage.append((day, user, device.mac, up, down))
            updated, gate = sweep(session, now, self.policy, activity)
            for mac, ip in gate.close:
                commands += ruleset.deauthorise(mac, ip)
                self.by_ip.pop(ip, None)
                self._last.pop((mac, ip), None)
                closed.append(ip)
            if updated is None:
                del self.sessions[user]
                ended.append(user)
            else:
                self.sessions[user] = updated
        if commands:
            with contextlib.suppress(NftError):  # an element may have expired already
                await self.core.executor.run(self.table.apply, commands)
        if not usage and not ended and not closed:
            return
        async with self.core.db.write() as tx:
            await tx.executemany(
                "INSERT INTO portal_usage (day, user, mac, up_bytes, down_bytes)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (day, user, mac) DO UPDATE SET"
                " up_bytes = up_bytes + excluded.up_bytes,"
                " down_bytes = down_bytes + excluded.down_bytes",
                usage,
            )
            for user, session in self.sessions.items():
                await tx.execute(
                    "UPDATE portal_sessions SET bytes_used = ? WHERE user = ?",
                    (session.bytes_used, user),
                )
            await tx.executemany(
                "DELETE FROM portal_sessions WHERE user = ?", [(u,) for u in ended]
            )
            await tx.executemany("DELETE FROM portal_devices WHERE ip = ?", [(i,) for i in closed])
            await tx.executemany(
                "DELETE FROM network_clients WHERE address = ?", [(i,) for i in closed]
            )
            if closed:
                await tx.notify(filtering.CLIENTS_TOPIC)

    async def async_health(self) -> Health:
        """Report how many sessions are open."""
        return Health("ok", f"{len(self.sessions)} sessions")

    # -- pages ---------------------------------------------------------------------

    def _url(self, path: str) -> str:
        cfg = self.core.config.portal
        port = "" if cfg.http_port == 80 else f":{cfg.http_port}"
        return f"http://{cfg.address}{port}{path}"

    def _online(self, request: web.Request) -> Session | None:
        user = self.by_ip.get(request.remote or "")
        session = self.sessions.get(user) if user else None
        if session is None or session.ends_at <= time.time():
            return None
        return session

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
        state = CaptiveState(
            captive=session is None,
            portal_url=self._url("/login"),
            seconds_remaining=int(session.ends_at - time.time()) if session else None,
        )
        return web.json_response(
            state.as_json(), content_type=CAPTIVE_JSON, headers={"Cache-Control": "private"}
        )

    def _page(self, title: str, body: str, status: int = 200) -> web.Response:
        return web.Response(
            text=_PAGE.format(title=html.escape(title), body=body),
            status=status,
            content_type="text/html",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    async def login_page(self, request: web.Request, error: str = "") -> web.Response:
        """The login form with the charter."""
        cfg = self.core.config.portal
        alert = f'<p class="alert" role="alert">{html.escape(error)}</p>' if error else ""
        body = (
            "<h1>Connexion au Wi-Fi de l'établissement</h1>"
            f'{alert}<form method="post" action="/login">'
            '<label for="login">Identifiant</label>'
            '<input id="login" name="login" type="text" autocomplete="username" required>'
            '<label for="password">Mot de passe</label>'
            '<input id="password" name="password" type="password" required>'
            f"<p>{html.escape(cfg.charter_text)}</p>"
            '<input type="hidden" name="charter_version" value="'
            f'{html.escape(cfg.charter_version)}">'
            '<label><input type="checkbox" name="charter" value="accepted" required> '
            "J'accepte la charte</label>"
            '<button type="submit">Se connecter</button></form>'
        )
        return self._page("Connexion", body, 401 if error else 200)

    async def login_submit(self, request: web.Request) -> web.StreamResponse:
        """Check the account and the charter, then open the gate for this device."""
        form = await request.post()
        cfg = self.core.config.portal
        if form.get("charter") != "accepted" or form.get("charter_version") != cfg.charter_version:
            return await self.login_page(request, "Vous devez accepter la charte en vigueur.")
        outcome = await self.core.directory.authenticate(
            str(form.get("login", ""))[:128], str(form.get("password", ""))[:256]
        )
        ip = request.remote or ""
        if outcome.person is None or outcome.role is None:
            await self.core.audit.record(
                actor=str(form.get("login", ""))[:128],
                source=ip,
                action="portal.login",
                outcome="failure",
            )
            return await self.login_page(request, "Identifiant ou mot de passe incorrect.")
        arp = await self.core.executor.run(ARP_TABLE.read_text)
        mac = mac_of(arp, ip)
        if mac is None:
            return await self.login_page(request, "Appareil introuvable sur le réseau.")
        person = outcome.person
        now = time.time()
        result = login(
            self.sessions.get(person.id), person.id, outcome.role, mac, ip, now, self.policy
        )
        if result.session is None or result.refused:
            return await self.login_page(request, f"Connexion refusée ({result.refused}).")
        commands = []
        for old_mac, old_ip in result.gate.close:
            commands += ruleset.deauthorise(old_mac, old_ip)
        for new_mac, new_ip, seconds in result.gate.open:
            commands += ruleset.authorise(new_mac, new_ip, seconds)
        try:
            await self.core.executor.run(self.table.apply, commands)
        except NftError:
            _LOGGER.exception("Could not open the gate for %s", ip)
            return await self.login_page(request, "Erreur du portail, réessayez.")
        session = result.session
        self.sessions[person.id] = session
        for _old_mac, old_ip in result.gate.close:
            self.by_ip.pop(old_ip, None)
        self.by_ip[ip] = person.id
        await self._store(session, person.class_name, person.level, mac, cfg.charter_version)
        await self.core.audit.record(
            actor=person.id,
            source=ip,
            action="portal.login",
            outcome="success",
            detail=f"mac={mac}",
        )
        raise web.HTTPFound(self._url("/status"))

    async def _store(
        self, session: Session, class_name: str, level: str, mac: str, charter: str
    ) -> None:
        async with self.core.db.write() as tx:
            await tx.execute(
                "INSERT INTO portal_sessions (user, role, started_at, ends_at, bytes_used)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (user) DO UPDATE SET"
                " ends_at = excluded.ends_at, bytes_used = excluded.bytes_used",
                (
                    session.user,
                    session.role,
                    session.started_at,
                    session.ends_at,
                    session.bytes_used,
                ),
            )
            await tx.execute("DELETE FROM portal_devices WHERE user = ?", (session.user,))
            for device in session.devices:
                await tx.execute("DELETE FROM portal_devices WHERE ip = ?", (device.ip,))
                await tx.execute(
                    "INSERT INTO portal_devices (mac, ip, user, attached_at, last_active,"
                    " randomised) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        device.mac,
                        device.ip,
                        session.user,
                        device.attached_at,
                        device.last_active,
                        int(device.randomised),
                    ),
                )
                await tx.execute(
                    "INSERT OR REPLACE INTO network_clients (address, person_id, role,"
                    " class_name, level, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (device.ip, session.user, session.role, class_name, level, session.ends_at),
                )
            await tx.execute(
                "INSERT OR IGNORE INTO portal_charter (user, version, device_mac, accepted_at)"
                " VALUES (?, ?, ?, ?)",
                (session.user, charter, mac, utc_now_iso()),
            )
            await tx.notify(filtering.CLIENTS_TOPIC)

    async def status_page(self, request: web.Request) -> web.StreamResponse:
        """Time left and devices of the logged-in person."""
        session = self._online(request)
        if session is None:
            raise web.HTTPFound(self._url("/login"))
        minutes = int(session.ends_at - time.time()) // 60
        devices = "".join(
            f"<li>{html.escape(d.mac)}{' (adresse privée)' if d.randomised else ''}</li>"
            for d in session.devices
        )
        body = (
            f"<h1>Connecté·e</h1><p>{html.escape(session.user)} — encore {minutes} min.</p>"
            f"<h2>Mes appareils</h2><ul>{devices}</ul>"
        )
        return self._page("Connecté", body)

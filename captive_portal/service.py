"""The portal service: probes, login with the charter, RFC 8908, the kernel gate.

Runs in the privileged unit (``CAP_NET_ADMIN``), on the BYOD side only. A
device's MAC comes from the kernel's neighbour table, never from the client.
The state DB is the truth: sessions are loaded from it at start and after any
admin action (kick, extend, voucher revoked), and :func:`ruleset.reconcile`
makes the kernel equal to it, at start before the portal answers and at every
sweep, so a crash, a reboot or a hand-edited set heals by itself. The person
logged in on an address is written to ``network_clients`` for the DNS filter.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

from aiohttp import web

from appliance.atomic import write_atomic
from appliance.audit import AuditLog, utc_now_iso
from appliance.metrics import publish_metrics
from appliance.network_clients import CLIENTS_TOPIC
from appliance.scheduler.calendar import calendar_from_config
from appliance.scheduler.jobs import load_calendar
from appliance.service import Health, Service
from appliance.state.db import Transaction
from appliance.tls import server_context
from captive_portal import garden, ruleset
from captive_portal import state as portal_admin
from captive_portal.config import PortalConfig, PortalRoleConfig
from captive_portal.dhcp import (
    DhcpSettings,
    parse_lease_events,
    render_dnsmasq,
    render_lease_hook,
)
from captive_portal.dhcp_child import DhcpChild
from captive_portal.guard import FormTokens, SourceLimits
from captive_portal.nftables import NftError, NftTable
from captive_portal.pages import PortalPages, choose_language, human_bytes
from captive_portal.probes import CAPTIVE_JSON, CaptiveState, probe_answer
from captive_portal.ra import RouterAdvertiser, router_advertisement
from captive_portal.sessions import (
    Device,
    GateChange,
    RolePolicy,
    Session,
    login,
    logout,
    sweep,
)
from filter.class_blocks import OVERRIDES_TOPIC, blocked_classes
from filter.config import FilterConfig

_LOGGER = logging.getLogger(__name__)
CALENDAR_SECONDS: Final = 600.0

ARP_TABLE: Final = Path("/proc/net/arp")
PORTAL_KEY: Final = web.AppKey("portal", object)
RESUME_COOKIE: Final = "preau_resume"
MAX_BODY: Final = 8 * 1024
V6_LEARN_SECONDS: Final = 0.5


def mac_of(arp_text: str, ip: str) -> str | None:
    """Return the MAC the kernel knows for ``ip`` (from /proc/net/arp), or None."""
    for line in arp_text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[0] == ip and fields[3] != "00:00:00:00:00:00":
            return fields[3].lower()
    return None


def role_policy(role: PortalRoleConfig, fair_use_kbytes: int) -> RolePolicy:
    """Turn a role's settings into the pure core's policy."""
    return RolePolicy(
        hard_seconds=int(role.hard_minutes * 60),
        idle_seconds=max(1, int(role.idle_minutes * 60)),
        max_devices=role.max_devices,
        concurrent=role.concurrent,
        quota_bytes=role.daily_quota_mb * 1_000_000 if role.daily_quota_mb else None,
        fair_use=fair_use_kbytes > 0,
        ends_with_school_day=role.ends_with_school_day,
    )


@dataclass(frozen=True, slots=True)
class _StoreRequest:
    """A login to record: the session, who it is for, the device, the resume cookie."""

    session: Session
    class_name: str
    level: str
    mac: str
    resume_token: str
    address: str


def forwarding_missing(ipv6: bool, proc: Path = Path("/proc/sys/net")) -> str:
    """Return the sysctl keys that stop logged-in devices' traffic ("" when none)."""
    keys = ["ipv4/ip_forward"] + (["ipv6/conf/all/forwarding"] if ipv6 else [])
    off = []
    for key in keys:
        try:
            if (proc / key).read_text().strip() == "0":
                off.append("net." + key.replace("/", "."))
        except OSError:
            continue
    return ", ".join(f"{key}=0" for key in off)


class PortalService(Service):
    """Let logged-in people's devices through; send everybody else to the login page."""

    name: ClassVar[str] = "portal"

    async def async_setup(self) -> None:
        """Load the table, put unexpired sessions back into the kernel, prepare the pages."""
        cfg = self.core.config.section(PortalConfig)
        await self._refresh_calendar()
        self._use_roles(await portal_admin.role_settings(self.core))
        rates = self._rates_needed()
        self._tiers = set(rates)
        self.table = NftTable()
        self.network = ruleset.PortalNetwork(
            cfg.byod_interface,
            cfg.wan_interface,
            cfg.address,
            cfg.http_port,
            portal_https_port=cfg.https_port,
            rates=tuple(sorted(rates)),
            ipv6_prefix=cfg.ipv6_prefix,
        )
        await self.core.executor.run(self.table.load, ruleset.render_table(self.network))
        self.sessions: dict[str, Session] = {}
        self.by_ip: dict[str, str] = {}
        self.classes: dict[str, tuple[str, str]] = {}  # user → (class, level)
        self._last: dict[tuple[str, str], tuple[int, int]] = {}
        self._day = portal_admin.local_day(self.core)
        self._lock = asyncio.Lock()
        self._forms = FormTokens()
        self._limits = SourceLimits(logins_per_minute=cfg.logins_per_minute)
        self._pages = PortalPages()
        self.charter = await portal_admin.current_charter(self.core)
        await self._load_sessions()
        await self.reconcile()
        self.core.changes.subscribe(portal_admin.PORTAL_TOPIC, self._sessions_changed)
        self.core.changes.subscribe(portal_admin.CHARTER_TOPIC, self._charter_changed)
        self.core.changes.subscribe(OVERRIDES_TOPIC, self._overrides_changed)
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()

    async def _load_sessions(self) -> None:
        """Replace the in-memory sessions by the DB's."""
        now = time.time()
        rows = await self.core.db.fetchall(
            "SELECT s.user, s.role, s.started_at, s.ends_at, s.bytes_used, s.throttled,"
            " s.class_name, s.level, d.mac, d.ip, d.attached_at, d.last_active, d.randomised"
            " FROM portal_sessions s LEFT JOIN portal_devices d ON d.user = s.user"
            " WHERE s.ends_at > ?",
            (now,),
        )
        sessions: dict[str, Session] = {}
        for row in rows:
            session = sessions.get(row["user"]) or Session(
                row["user"],
                row["role"],
                row["started_at"],
                row["ends_at"],
                bytes_used=row["bytes_used"],
                throttled=bool(row["throttled"]),
            )
            if row["mac"] is not None:
                device = Device(
                    row["mac"],
                    row["ip"],
                    row["attached_at"],
                    row["last_active"],
                    bool(row["randomised"]),
                )
                session = Session(
                    session.user,
                    session.role,
                    session.started_at,
                    session.ends_at,
                    (*session.devices, device),
                    session.bytes_used,
                    session.throttled,
                )
            sessions[row["user"]] = session
            self.classes[row["user"]] = (row["class_name"], row["level"])
        self.sessions = sessions
        self.by_ip = {d.ip: s.user for s in sessions.values() for d in s.devices}

    def _use_roles(self, roles: dict[str, PortalRoleConfig]) -> None:
        fair_use = self.core.config.section(PortalConfig).fair_use_kbytes
        self.roles = roles
        self.policies = {name: role_policy(role, fair_use) for name, role in roles.items()}

    def _rates_needed(self) -> set[int]:
        rates = {r.rate_kbytes for r in self.roles.values() if r.rate_kbytes}
        if self.core.config.section(PortalConfig).fair_use_kbytes:
            rates.add(self.core.config.section(PortalConfig).fair_use_kbytes)
        return rates

    async def _sessions_changed(self, _topic: str) -> None:
        """Reload rules and sessions after an admin action, and make the kernel follow."""
        async with self._lock:
            self._use_roles(await portal_admin.role_settings(self.core))
            for rate in sorted(self._rates_needed() - self._tiers):
                await self.core.executor.run(self.table.load, ruleset.rate_tier(self.network, rate))
                self._tiers.add(rate)
            await self._load_sessions()
            await self.reconcile()

    async def _charter_changed(self, _topic: str) -> None:
        self.charter = await portal_admin.current_charter(self.core)

    async def _overrides_changed(self, _topic: str) -> None:
        async with self._lock:
            await self.reconcile()

    def _rate_of(self, session: Session) -> int | None:
        cfg = self.core.config.section(PortalConfig)
        if session.throttled and cfg.fair_use_kbytes:
            return cfg.fair_use_kbytes
        role = self.roles.get(session.role)
        return role.rate_kbytes if role else None

    async def _blocked(self, now: float) -> dict[str, int]:
        """Return device addresses of classes under a 'block all', with seconds left."""
        if not self.core.config.section(PortalConfig).block_all_cuts_forwarding or not self.by_ip:
            return {}
        until = await blocked_classes(self.core, now)
        blocked: dict[str, int] = {}
        for ip, user in self.by_ip.items():
            class_name = self.classes.get(user, ("", ""))[0]
            if class_name in until and ":" not in ip:
                blocked[ip] = max(1, int(until[class_name] - now))
        return blocked

    async def reconcile(self, kernel: ruleset.KernelState | None = None) -> int:
        """Make the kernel equal to the sessions; return how many commands that took."""
        now = time.time()
        if kernel is None:
            kernel = await self.core.executor.run(self.table.state)
        v6: dict[str, set[str]] = {}
        for mac, address in kernel.seen_v6:
            v6.setdefault(mac, set()).add(address)
        wanted = []
        for session in self.sessions.values():
            seconds = int(session.ends_at - now)
            if seconds <= 0:
                continue
            rate = self._rate_of(session)
            for device in session.devices:
                wanted.append(ruleset.Wanted(device.mac, device.ip, seconds, rate))
                wanted += [
                    ruleset.Wanted(device.mac, address, seconds)
                    for address in v6.get(device.mac, ())
                ]
        commands, readded = ruleset.reconcile(kernel, wanted, await self._blocked(now))
        if commands:
            try:
                await self.core.executor.run(self.table.apply, commands)
            except NftError:
                # An element expired between listing and applying: the next sweep retries.
                _LOGGER.warning("Portal reconcile retried later: the table changed meanwhile")
                return 0
        for key in readded:
            self._last[key] = (0, 0)
        return len(commands)

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
        app.router.add_route("GET", "/{tail:.*}", self.anything)
        return app

    async def async_start(self) -> None:
        """Serve the portal (HTTP, and HTTPS if configured) and DHCP; start the sweep."""
        cfg = self.core.config.section(PortalConfig)
        self._pending: list[tuple[_StoreRequest, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._flusher = asyncio.create_task(self._flush_forever(), name="preau-portal-store")
        await web.TCPSite(self._runner, cfg.address, cfg.http_port).start()
        context = await self.core.executor.run(server_context, cfg.tls_cert, cfg.tls_key)
        if context is not None:
            await web.TCPSite(
                self._runner, cfg.address, cfg.https_port, ssl_context=context
            ).start()
        self._dhcp: DhcpChild | None = None
        if cfg.dhcp:
            folder = self.core.config.site.data_dir / "portal"
            settings = DhcpSettings(
                interface=cfg.byod_interface,
                router=cfg.address,
                dns_server=cfg.address,
                first=cfg.dhcp_first,
                last=cfg.dhcp_last,
                lease_minutes=cfg.lease_minutes,
                captive_api_url=cfg.captive_api_url or self.api_url(),
                dns_server6=cfg.address6,
                do_cache_host=cfg.do_cache_host,
            )
            conf = folder / "dnsmasq.conf"
            hook = folder / "lease-hook.sh"
            text = render_dnsmasq(settings, folder / "dhcp.leases", hook)
            await self.core.executor.run(
                functools.partial(
                    write_atomic, hook, render_lease_hook(folder / "lease-events.tsv"), mode=0o750
                )
            )
            await self.core.executor.run(write_atomic, conf, text)
            self._dhcp = DhcpChild(conf)
            await self._dhcp.start(self.core.executor.run)
        self._advertiser: RouterAdvertiser | None = None
        if cfg.ipv6_prefix:
            mac = await self.core.executor.run(
                Path(f"/sys/class/net/{cfg.byod_interface}/address").read_text
            )
            self._advertiser = RouterAdvertiser(
                cfg.byod_interface,
                router_advertisement(
                    mac=mac.strip(),
                    prefix=cfg.ipv6_prefix,
                    dns_server=cfg.address6,
                    api_url=cfg.captive_api_url or self.api_url(),
                ),
            )
            await self._advertiser.start()
        missing = await self.core.executor.run(forwarding_missing, bool(cfg.ipv6_prefix))
        if missing:
            _LOGGER.warning(
                "Portal: forwarding is off (%s): devices will log in but reach nothing; "
                "turn it on and set up NAT or a route back (docs/captive-portal.md)",
                missing,
            )
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="preau-portal-sweep")
        self._learner = asyncio.create_task(self._learn_v6_forever(), name="preau-portal-v6")
        self._gardener = asyncio.create_task(self._garden_forever(), name="preau-portal-garden")

    async def async_stop(self) -> None:
        """Stop serving; the kernel keeps the sessions (they expire by themselves).

        One last sweep first: the next start rebuilds the table (its counters
        start again), so bytes since the last sweep would never be counted.
        """
        await self._runner.cleanup()
        try:
            await self.sweep_once()
        except Exception:
            _LOGGER.exception("Portal: the last sweep before stopping failed")
        if self._advertiser is not None:
            await self._advertiser.stop()
        for task in (self._sweeper, self._flusher, self._gardener, self._learner):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._dhcp is not None:
            await self._dhcp.stop()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.core.config.section(PortalConfig).sweep_seconds)
            try:
                if time.monotonic() - self._calendar_at >= CALENDAR_SECONDS:
                    await self._refresh_calendar()
                await self.sweep_once()
            except Exception:
                _LOGGER.exception("Portal sweep failed")

    async def _learn_v6_forever(self) -> None:
        """Give new IPv6 addresses of logged-in devices their element within a second."""
        known: set[tuple[str, str]] = set()
        while self.core.config.section(PortalConfig).ipv6_prefix:
            await asyncio.sleep(V6_LEARN_SECONDS)
            try:
                seen = await self.core.executor.run(self.table.seen_v6)
                if seen - known:
                    async with self._lock:
                        await self.reconcile()
                known = seen
            except Exception:
                _LOGGER.exception("IPv6 address learning failed")

    async def _garden_forever(self) -> None:
        """Keep the walled garden's addresses open for the TTL of their answers."""
        names = self.core.config.section(PortalConfig).walled_garden
        while names:
            try:
                pause = await self.refresh_garden()
            except Exception:
                _LOGGER.exception("Walled garden refresh failed")
                pause = garden.MIN_REFRESH_SECONDS
            await asyncio.sleep(pause)

    async def refresh_garden(self) -> float:
        """Resolve every walled-garden name once; return when to do it again."""
        cfg = self.core.config.section(PortalConfig)
        endpoint = cfg.garden_resolver or self.core.config.section(FilterConfig).listen[0]
        host, _, port = endpoint.rpartition(":")
        wanted: dict[str, int] = {}
        pause = float(garden.MAX_REFRESH_SECONDS)
        for name in cfg.walled_garden:
            asked = name
            for _ in range(garden.MAX_CNAME_CHAIN):
                query_id = secrets.randbelow(65536)
                try:
                    packet = await self._ask(
                        host.strip("[]"), int(port), garden.build_query(asked, query_id)
                    )
                    answer = garden.parse_answer(asked, query_id, packet)
                except (OSError, TimeoutError, garden.GardenError) as err:
                    _LOGGER.warning("Walled garden: no answer for %s (%s)", asked, err)
                    pause = min(pause, garden.MIN_REFRESH_SECONDS)
                    break
                for address, seconds in answer.addresses.items():
                    wanted[address] = max(wanted.get(address, 0), seconds)
                pause = min(pause, answer.refresh_in)
                if not answer.follow:
                    break
                asked = answer.follow
        kernel = await self.core.executor.run(self.table.state)
        commands = ruleset.garden_commands(kernel, wanted)
        _LOGGER.debug("Walled garden: %d addresses, %d changes", len(wanted), len(commands))
        if commands:
            await self.core.executor.run(self.table.apply, commands)
        return pause

    async def _ask(self, host: str, port: int, query: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, (host, port))
            await loop.sock_sendall(sock, query)
            async with asyncio.timeout(2):
                return await loop.sock_recv(sock, 65535)

    async def sweep_once(self) -> None:
        """Sample counters into usage, apply idle/hard/quota limits, reconcile the kernel."""
        async with self._lock:
            await self._sweep_locked()
        await self._record_leases()

    async def _sweep_locked(self) -> None:
        kernel = await self.core.executor.run(self.table.state)
        now = time.time()
        day = portal_admin.local_day(self.core, now)
        new_day = day != self._day
        self._day = day
        deltas: dict[str, tuple[int, int]] = {}
        for entry in kernel.clients:
            key = (entry.mac, entry.ip)
            last_up, last_down = self._last.get(key, (0, 0))
            up = max(0, entry.up_bytes - last_up)
            down = max(0, entry.down_bytes - last_down)
            self._last[key] = (entry.up_bytes, entry.down_bytes)
            sum_up, sum_down = deltas.get(entry.mac, (0, 0))
            deltas[entry.mac] = (sum_up + up, sum_down + down)
        live = {(c.mac, c.ip) for c in kernel.clients}
        self._last = {k: v for k, v in self._last.items() if k in live}
        usage: list[tuple[str, str, str, int, int]] = []
        ended: list[str] = []
        closed: list[str] = []
        for user, session in list(self.sessions.items()):
            if new_day:
                session = Session(
                    session.user,
                    session.role,
                    session.started_at,
                    session.ends_at,
                    session.devices,
                )
            activity = {}
            for device in session.devices:
                up, down = deltas.get(device.mac, (0, 0))
                activity[device.mac] = (up + down, False)
                if up or down:
                    usage.append((day, user, device.mac, up, down))
            policy = self.policies.get(session.role, self.policies["guest"])
            updated, gate = sweep(session, now, policy, activity)
            for _mac, ip in gate.close:
                self.by_ip.pop(ip, None)
                closed.append(ip)
            if updated is None:
                del self.sessions[user]
                ended.append(user)
            else:
                self.sessions[user] = updated
        await self.reconcile(kernel)
        if usage or ended or closed or new_day:
            await self._record_sweep(day, usage, ended, closed)
        await self._publish(kernel)

    async def _record_sweep(
        self,
        day: str,
        usage: list[tuple[str, str, str, int, int]],
        ended: list[str],
        closed: list[str],
    ) -> None:
        threshold = self.core.config.section(PortalConfig).daily_alert_mb * 1_000_000
        async with self.core.db.write() as tx:
            await tx.executemany(
                "INSERT INTO portal_usage (day, user, mac, up_bytes, down_bytes)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (day, user, mac) DO UPDATE SET"
                " up_bytes = up_bytes + excluded.up_bytes,"
                " down_bytes = down_bytes + excluded.down_bytes",
                usage,
            )
            await tx.executemany(
                "UPDATE portal_sessions SET bytes_used = ?, throttled = ? WHERE user = ?",
                [(s.bytes_used, int(s.throttled), u) for u, s in self.sessions.items()],
            )
            # A device that moved bytes was active now: what a reload (a restart, an
            # admin's extend) reads back, so a quiet phone keeps its real idle time.
            active = {(row[1], row[2]) for row in usage}
            await tx.executemany(
                "UPDATE portal_devices SET last_active = ? WHERE user = ? AND mac = ?",
                [
                    (device.last_active, user, device.mac)
                    for user, session in self.sessions.items()
                    for device in session.devices
                    if (user, device.mac) in active
                ],
            )
            await tx.executemany("DELETE FROM portal_devices WHERE user = ?", [(u,) for u in ended])
            await tx.executemany(
                "DELETE FROM portal_sessions WHERE user = ?", [(u,) for u in ended]
            )
            await tx.executemany("DELETE FROM portal_devices WHERE ip = ?", [(i,) for i in closed])
            await tx.executemany(
                "DELETE FROM network_clients WHERE address = ?", [(i,) for i in closed]
            )
            if threshold and usage:
                now = time.time()
                await tx.executemany(
                    "INSERT OR IGNORE INTO portal_alerts (day, user, kind, bytes, created_at)"
                    " SELECT day, user, 'daily', SUM(up_bytes + down_bytes), ? FROM portal_usage"
                    " WHERE day = ? AND user = ? GROUP BY day, user"
                    " HAVING SUM(up_bytes + down_bytes) >= ?",
                    [(now, day, user, threshold) for user in sorted({r[1] for r in usage})],
                )
            if closed:
                await tx.notify(CLIENTS_TOPIC)

    async def _publish(self, kernel: ruleset.KernelState) -> None:
        devices = sum(len(s.devices) for s in self.sessions.values())
        await publish_metrics(
            self.core,
            self.name,
            [
                ("preau_portal_sessions", "", float(len(self.sessions))),
                ("preau_portal_devices", "", float(devices)),
                ("preau_portal_kernel_clients", "", float(len(kernel.clients))),
                (
                    "preau_portal_throttled_sessions",
                    "",
                    float(sum(s.throttled for s in self.sessions.values())),
                ),
                ("preau_portal_blocked_devices", "", float(len(kernel.blocked))),
            ],
        )

    async def _record_leases(self) -> None:
        """Move new DHCP lease events into the device inventory."""
        if not self.core.config.section(PortalConfig).dhcp:
            return
        spool = self.core.config.site.data_dir / "portal" / "lease-events.tsv"

        def take() -> str:
            # dnsmasq appends to the spool; renaming it first means no line is lost.
            taken = spool.with_suffix(".reading")
            try:
                spool.rename(taken)
            except FileNotFoundError:
                return ""
            text = taken.read_text(errors="replace")
            taken.unlink()
            return text

        events = parse_lease_events(await self.core.executor.run(take))
        if not events:
            return
        now = time.time()
        async with self.core.db.write() as tx:
            await tx.executemany(
                "INSERT INTO portal_dhcp_devices (mac, ip, hostname, vendor_class, fingerprint,"
                " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (mac) DO UPDATE"
                " SET ip = excluded.ip, hostname = excluded.hostname,"
                " vendor_class = excluded.vendor_class, fingerprint = excluded.fingerprint,"
                " last_seen = excluded.last_seen",
                [
                    (e.mac, e.ip, e.hostname, e.vendor_class, e.fingerprint, now, now)
                    for e in events
                ],
            )

    async def async_health(self) -> Health:
        """Report how many sessions are open, and whether logged-in devices can get out.

        With forwarding off the portal would say "online" while nothing passes:
        routing and NAT are the referent's (docs/captive-portal.md), so the
        box names what is missing instead (issue #11).
        """
        missing = await self.core.executor.run(
            forwarding_missing, bool(self.core.config.section(PortalConfig).ipv6_prefix)
        )
        if missing:
            return Health(
                "degraded",
                f"{len(self.sessions)} sessions; le transfert IP est désactivé ({missing}) : "
                "les appareils connectés n'atteignent pas internet",
            )
        return Health("ok", f"{len(self.sessions)} sessions")

    # -- pages ---------------------------------------------------------------------

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
        return choose_language(
            request.query.get("lang"), request.headers.get("Accept-Language", "")
        )

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
                " form-action 'self'; frame-ancestors 'none'",
                "Referrer-Policy": "no-referrer",
                **(headers or {}),
            },
        )

    def _message(
        self, request: web.Request, key: str, status: int, headers: dict[str, str] | None = None
    ) -> web.Response:
        lang = self._lang(request)
        text = self._pages.render("message", lang, error=self._pages_text(lang, key))
        return self._html(text, status, headers)

    @staticmethod
    def _pages_text(lang: str, key: str) -> str:
        from captive_portal.pages import TEXTS

        return TEXTS[lang][key]

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
        self, request: web.Request, error: str = "", status: int = 200
    ) -> web.Response:
        """The login form with the charter, the guest voucher form, "continue as"."""
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
            resume_user=await self._resume_user(request),
        )
        return self._html(text, 401 if error and status == 200 else status)

    async def _checked_form(self, request: web.Request) -> tuple[Any, str | None]:
        """Read a posted form; return it and an error key if it must be refused."""
        form = await request.post()
        address = request.remote or ""
        if not self._forms.redeem(str(form.get("form_token", "")), address, time.monotonic()):
            return form, "err_form"
        return form, None

    async def _login_form(self, request: web.Request) -> tuple[Any, web.Response | None]:
        """Read a login or voucher form; refuse a replay, a flood or a missing charter."""
        form, problem = await self._checked_form(request)
        if problem:
            return form, await self.login_page(request, problem, 400)
        if not self._limits.allow_login(request.remote or "", time.monotonic()):
            return form, await self.login_page(request, "err_slow", 429)
        if form.get("charter") != "accepted" or form.get("charter_version") != self.charter.version:
            return form, await self.login_page(request, "err_charter")
        return form, None

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
            return await self.login_page(request, "err_credentials")
        person = outcome.person
        return await self._attach(request, person.id, outcome.role, person.class_name, person.level)

    async def voucher_submit(self, request: web.Request) -> web.StreamResponse:
        """Log a visitor in with a printed voucher code."""
        form, refusal = await self._login_form(request)
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
        await self._store(_StoreRequest(session, class_name, level, mac, token, address))
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

    async def _apply_gate(self, gate: GateChange) -> None:
        commands: list[dict[str, Any]] = []
        for old_mac, old_ip in gate.close:
            commands += ruleset.deauthorise(old_mac, old_ip)
        for new_mac, new_ip, seconds in gate.open:
            commands += ruleset.authorise(new_mac, new_ip, seconds)
            commands.append(ruleset.authorise_mac(new_mac, seconds))
            self._last[(new_mac, new_ip)] = (0, 0)
        if commands:
            # Closing a pair the kernel already dropped must not keep the new one shut.
            try:
                await self.core.executor.run(self.table.apply, commands)
            except NftError:
                opened = [c for c in commands if "add" in c]
                await self.core.executor.run(self.table.apply, opened)

    async def _detach_locked(self, user: str, address: str) -> None:
        session = self.sessions.get(user)
        if session is None:
            return
        device = next((d for d in session.devices if d.ip == address), None)
        if device is None:
            return
        updated, gate = logout(session, device.mac)
        if updated is None:
            del self.sessions[user]
        else:
            self.sessions[user] = updated
        self.by_ip.pop(address, None)
        with contextlib.suppress(NftError):
            await self._apply_gate(gate)
        if self.core.config.section(PortalConfig).ipv6_prefix:
            await self.reconcile()  # the device's IPv6 addresses go with it

    async def _used_today(self, user: str, now: float) -> int:
        row = await self.core.db.fetchone(
            "SELECT COALESCE(SUM(up_bytes + down_bytes), 0) AS used FROM portal_usage"
            " WHERE day = ? AND user = ?",
            (portal_admin.local_day(self.core, now), user),
        )
        return int(row["used"]) if row else 0

    def _school_day_end(self, now: float) -> float:
        """Return when today's lessons end; ``now`` when there are none today.

        A role whose sessions end with the school day cannot log in after the
        last lessons, nor on a day without classes (weekends, holidays, closed
        days): the login is refused as outside hours.
        """
        calendar = self._calendar
        end = calendar.classes_end(dt.datetime.fromtimestamp(now, calendar.zone))
        return now if end is None else end.timestamp()

    async def _refresh_calendar(self) -> None:
        """Read the school calendar again (holidays file, closed days)."""
        try:
            self._calendar = await load_calendar(self.core)
        except ValueError as err:  # an unreadable holidays file: keep what was read
            _LOGGER.warning("Portal: school calendar not read again (%s)", err)
            if getattr(self, "_calendar", None) is None:  # at start: days of the week only
                self._calendar = calendar_from_config(
                    self.core.config.scheduler, self.core.config.site.zone, [], []
                )
        self._calendar_at = time.monotonic()

    async def _store(self, request: _StoreRequest) -> None:
        """Record a login durably before answering; logins arriving together share a commit."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((request, done))
        self._wake.set()
        await done

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                async with self.core.db.write() as tx:
                    for request, _ in batch:
                        await self._store_in(tx, request)
                    await tx.notify(CLIENTS_TOPIC)
            except Exception as err:  # the DB refused (disk full…): every waiter hears it
                for _, done in batch:
                    if not done.done():
                        done.set_exception(err)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _store_in(self, tx: Transaction, request: _StoreRequest) -> None:
        session, class_name, level = request.session, request.class_name, request.level
        mac, resume_token = request.mac, request.resume_token
        await tx.execute(
            "INSERT INTO portal_sessions (user, role, started_at, ends_at, bytes_used,"
            " throttled, class_name, level) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (user) DO UPDATE SET ends_at = excluded.ends_at,"
            " bytes_used = excluded.bytes_used, throttled = excluded.throttled,"
            " class_name = excluded.class_name, level = excluded.level",
            (
                session.user,
                session.role,
                session.started_at,
                session.ends_at,
                session.bytes_used,
                int(session.throttled),
                class_name,
                level,
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
            (session.user, self.charter.version, mac, utc_now_iso()),
        )
        await tx.execute(
            "INSERT INTO portal_resume (token_hash, user, expires_at) VALUES (?, ?, ?)",
            (hashlib.sha256(resume_token.encode()).hexdigest(), session.user, session.ends_at),
        )
        await tx.execute("DELETE FROM portal_resume WHERE expires_at < ?", (time.time(),))
        await AuditLog.record_in(
            tx,
            actor=session.user,
            source=request.address,
            action="portal.login",
            outcome="success",
        )

    async def logout_submit(self, request: web.Request) -> web.StreamResponse:
        """Log this device out, or every device of the account (``scope=all``).

        The page offers both: "this device" keeps the person's other devices
        online (a phone logged out in class leaves the laptop alone); "all my
        devices" ends the session. The session also ends with its last device.
        """
        form, problem = await self._checked_form(request)
        if problem:
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

    async def status_page(self, request: web.Request) -> web.StreamResponse:
        """Time and data left, my devices, log out."""
        session = self._online(request)
        if session is None:
            raise web.HTTPFound(self._url("/login"))
        lang = self._lang(request)
        policy = self.policies.get(session.role)
        quota = policy.quota_bytes if policy else None
        seconds = int(session.ends_at - time.time())
        address = request.remote or ""
        text = self._pages.render(
            "status",
            lang,
            user=session.user,
            time_left=f"{seconds // 3600} h {seconds % 3600 // 60:02d} min",
            used=human_bytes(session.bytes_used),
            quota=human_bytes(quota) if quota else "",
            throttled=session.throttled,
            devices=[
                {"mac": d.mac, "randomised": d.randomised, "current": d.ip == address}
                for d in session.devices
            ],
            form_token=self._forms.issue(address, time.monotonic()),
        )
        return self._html(text)

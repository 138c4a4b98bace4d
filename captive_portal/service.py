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
import functools
import logging
import secrets
import socket
import time
from pathlib import Path

from aiohttp import web

from appliance.atomic import write_atomic
from appliance.i18n import N_
from appliance.identity.subgroups import SUBGROUPS_TOPIC
from appliance.service import Health
from appliance.tls import server_context
from captive_portal import garden, ruleset
from captive_portal import state as portal_admin
from captive_portal.config import PortalConfig
from captive_portal.dhcp import (
    DhcpSettings,
    render_dnsmasq,
    render_lease_hook,
)
from captive_portal.dhcp_child import DhcpChild
from captive_portal.guard import FormTokens, SourceLimits
from captive_portal.http_side import PortalHttp
from captive_portal.nftables import NftTable
from captive_portal.pages import MAX_LOGO_BYTES, PortalPages, logo_uri
from captive_portal.portal_base import (
    CALENDAR_SECONDS,
    V6_LEARN_SECONDS,
    forwarding_missing,
)
from captive_portal.ra import RouterAdvertiser, router_advertisement
from captive_portal.sessions import (
    Session,
)
from filter.class_blocks import OVERRIDES_TOPIC
from filter.config import FilterConfig

_LOGGER = logging.getLogger(__name__)


class PortalService(PortalHttp):
    """Let logged-in people's devices through; send everybody else to the login page."""

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
        if self.core.config.site.logo is not None:
            self._pages.logo = await self.core.executor.run(_read_logo, self.core.config.site.logo)
        self.charter = await portal_admin.current_charter(self.core)
        await self._load_sessions()
        await self.reconcile()
        self.core.changes.subscribe(portal_admin.PORTAL_TOPIC, self._sessions_changed)
        self.core.changes.subscribe(portal_admin.CHARTER_TOPIC, self._charter_changed)
        self.core.changes.subscribe(OVERRIDES_TOPIC, self._overrides_changed)
        self.core.changes.subscribe(SUBGROUPS_TOPIC, self._overrides_changed)
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()

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

    async def async_start(self) -> None:
        """Serve the portal (HTTP, and HTTPS if configured) and DHCP; start the sweep."""
        cfg = self.core.config.section(PortalConfig)
        self._pending = []
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
                N_(
                    "%(sessions)s sessions ; le transfert IP est désactivé (%(missing)s) : "
                    "les appareils connectés n'atteignent pas internet"
                ),
                {"sessions": len(self.sessions), "missing": missing},
            )
        return Health("ok", N_("%(sessions)s sessions"), {"sessions": len(self.sessions)})


def _read_logo(path: Path) -> str:
    """Return the logo file as a data: address ('' if unreadable or not an image we show)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_LOGO_BYTES + 1)
    except OSError as err:
        _LOGGER.warning("Logo %s not shown: %s", path, err.strerror)
        return ""
    uri = logo_uri(data)
    if not uri:
        _LOGGER.warning("Logo %s not shown: not a PNG, JPEG or SVG of 100 kB at most", path)
    return uri

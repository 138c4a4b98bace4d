"""The accounting sweep: counters into daily usage, limits applied, leases recorded."""

from __future__ import annotations

import logging
import time

from appliance.network_clients import CLIENTS_TOPIC
from appliance.published import publish_metrics
from captive_portal import ruleset
from captive_portal import state as portal_admin
from captive_portal.config import PortalConfig
from captive_portal.dhcp import (
    parse_lease_events,
)
from captive_portal.gate import Gate
from captive_portal.sessions import (
    Session,
    sweep,
)

_LOGGER = logging.getLogger(__name__)


class Accounting(Gate):
    """The accounting sweep: counters into daily usage, limits applied, leases recorded."""

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

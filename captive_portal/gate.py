"""The kernel gate: who is let through, at what rate, reconciled with the sessions."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from typing import Any

from appliance.scheduler.calendar import calendar_from_config
from appliance.scheduler.jobs import load_calendar
from captive_portal import ruleset
from captive_portal import state as portal_admin
from captive_portal.config import PortalConfig, PortalRoleConfig
from captive_portal.nftables import NftError
from captive_portal.persistence import Persistence
from captive_portal.portal_base import (
    role_policy,
)
from captive_portal.sessions import (
    GateChange,
    Session,
    logout,
)
from filter.class_blocks import blocked_classes, blocked_people

_LOGGER = logging.getLogger(__name__)


class Gate(Persistence):
    """The kernel gate: who is let through, at what rate, reconciled with the sessions."""

    def _use_roles(self, roles: dict[str, PortalRoleConfig]) -> None:
        fair_use = self.core.config.section(PortalConfig).fair_use_kbytes
        self.roles = roles
        self.policies = {name: role_policy(role, fair_use) for name, role in roles.items()}

    def _rates_needed(self) -> set[int]:
        rates = {r.rate_kbytes for r in self.roles.values() if r.rate_kbytes}
        if self.core.config.section(PortalConfig).fair_use_kbytes:
            rates.add(self.core.config.section(PortalConfig).fair_use_kbytes)
        return rates

    def _rate_of(self, session: Session) -> int | None:
        cfg = self.core.config.section(PortalConfig)
        if session.throttled and cfg.fair_use_kbytes:
            return cfg.fair_use_kbytes
        role = self.roles.get(session.role)
        return role.rate_kbytes if role else None

    async def _blocked(self, now: float) -> dict[str, int]:
        """Return device addresses of classes (or groups) under a 'block all', seconds left."""
        if not self.core.config.section(PortalConfig).block_all_cuts_forwarding or not self.by_ip:
            return {}
        until = await blocked_classes(self.core, now)
        people = await blocked_people(self.core, now)
        blocked: dict[str, int] = {}
        for ip, user in self.by_ip.items():
            if ":" in ip:
                continue
            class_name = self.classes.get(user, ("", ""))[0]
            ends = max(until.get(class_name, 0.0), people.get(user, 0.0))
            if ends > now:
                blocked[ip] = max(1, int(ends - now))
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

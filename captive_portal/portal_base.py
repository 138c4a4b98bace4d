"""What every part of the portal service shares: its state, declared once.

The portal service is split by concern (issue #12): persistence of sessions
(:mod:`captive_portal.persistence`), the kernel gate (:mod:`captive_portal.gate`),
the accounting sweep (:mod:`captive_portal.accounting`), the HTTP side with the
RFC 8908 API (:mod:`captive_portal.http_side`) and the lifecycle
(:mod:`captive_portal.service`). Each is a layer of one class, built on this
base, which declares the attributes they share and the small pure helpers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

from aiohttp import web

from appliance.scheduler.calendar import SchoolCalendar
from appliance.service import Service
from captive_portal import ruleset
from captive_portal import state as portal_admin
from captive_portal.config import PortalConfig, PortalRoleConfig
from captive_portal.dhcp_child import DhcpChild
from captive_portal.guard import FormTokens, SourceLimits
from captive_portal.nftables import NftTable
from captive_portal.pages import PortalPages
from captive_portal.ra import RouterAdvertiser
from captive_portal.sessions import (
    RolePolicy,
    Session,
)

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
class StoreRequest:
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


class PortalBase(Service):
    """The portal service's shared state (set in :meth:`PortalService.async_setup`)."""

    name: ClassVar[str] = "portal"
    table: NftTable
    network: ruleset.PortalNetwork
    sessions: dict[str, Session]
    by_ip: dict[str, str]
    classes: dict[str, tuple[str, str]]  # user → (class, level)
    roles: dict[str, PortalRoleConfig]
    policies: dict[str, RolePolicy]
    charter: portal_admin.Charter

    @property
    def guest_charter(self) -> portal_admin.Charter:
        """Return the visitors' charter (from the config; a guest never accepts the pupils')."""
        cfg = self.core.config.section(PortalConfig)
        return portal_admin.Charter(cfg.guest_charter_version, cfg.guest_charter_text, "", 0.0)

    _tiers: set[int]
    _last: dict[tuple[str, str], tuple[int, int]]
    _day: str
    _lock: asyncio.Lock
    _forms: FormTokens
    _limits: SourceLimits
    _pages: PortalPages
    _runner: web.AppRunner
    _pending: list[tuple[StoreRequest, asyncio.Future[None]]]
    _wake: asyncio.Event
    _flusher: asyncio.Task[None]
    _sweeper: asyncio.Task[None]
    _learner: asyncio.Task[None]
    _gardener: asyncio.Task[None]
    _calendar: SchoolCalendar
    _calendar_at: float
    _advertiser: RouterAdvertiser | None
    _dhcp: DhcpChild | None

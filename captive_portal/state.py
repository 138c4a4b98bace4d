"""The captive portal's state in the state DB: sessions, charters, vouchers, usage.

The web process (admin UI and API) and the privileged portal process share
nothing but this database. An admin action here changes rows and notifies
``PORTAL_TOPIC``; the portal service reloads the sessions and reconciles the
kernel within a second. Voucher codes are shown once and only their SHA-256
is stored: a leaked database gives no guest access.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pydantic import ValidationError

from appliance.config_overlay import is_locked, locked_keys
from appliance.i18n import N_
from appliance.network_clients import CLIENTS_TOPIC
from appliance.problems import UserError
from appliance.validation_fr import problems
from captive_portal.config import PortalConfig
from captive_portal.config import PortalRoleConfig as PortalRoleConfig  # re-exported

if TYPE_CHECKING:
    from appliance.core import Core

_LOGGER = logging.getLogger(__name__)

PORTAL_TOPIC: Final = "portal.sessions"
CHARTER_TOPIC: Final = "portal.charter"
VOUCHER_ALPHABET: Final = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
VOUCHER_LENGTH: Final = 10
GUEST_PREFIX: Final = "invite-"
MAX_EXTEND_MINUTES: Final = 24 * 60


class PortalStateError(UserError):
    """A request about the portal's state that cannot be honoured (field, reason)."""


@dataclass(frozen=True, slots=True)
class Charter:
    """One version of the charter."""

    version: str
    text: str
    created_by: str
    created_at: float


@dataclass(frozen=True, slots=True)
class VoucherGrant:
    """What a redeemed voucher gives: a guest identity until ``ends_at``."""

    voucher_id: int
    user: str
    ends_at: float
    max_devices: int


def normalise_code(code: str) -> str:
    """Return a typed voucher code without spaces, dashes or case."""
    return "".join(c for c in code.upper() if c.isalnum())


def _code_hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def local_day(core: Core, at: float | None = None) -> str:
    """Return the site's calendar day of ``at`` (usage is counted per local day)."""
    when = dt.datetime.fromtimestamp(time.time() if at is None else at, core.config.site.zone)
    return when.date().isoformat()


# -- charter -------------------------------------------------------------------------


async def current_charter(core: Core) -> Charter:
    """Return the charter in force: the newest version, or the configured first one."""
    row = await core.db.fetchone(
        "SELECT version, text, created_by, created_at FROM portal_charters"
        " ORDER BY created_at DESC, rowid DESC LIMIT 1"
    )
    if row is None:
        cfg = core.config.section(PortalConfig)
        return Charter(cfg.charter_version, cfg.charter_text, "preau.toml", 0.0)
    return Charter(row["version"], row["text"], row["created_by"], row["created_at"])


async def charters(core: Core) -> list[Charter]:
    """Return every version, newest first, with how many accepted each."""
    rows = await core.db.fetchall(
        "SELECT version, text, created_by, created_at FROM portal_charters"
        " ORDER BY created_at DESC, rowid DESC"
    )
    return [Charter(r["version"], r["text"], r["created_by"], r["created_at"]) for r in rows]


async def publish_charter(
    core: Core, *, version: str, text: str, actor: str, source: str
) -> Charter:
    """Store a new charter version; everybody accepts it at their next login (#7.48)."""
    version, text = version.strip(), text.strip()
    if not version or len(version) > 32 or not all(c.isalnum() or c in "-._" for c in version):
        raise PortalStateError(N_("version : 1 à 32 lettres, chiffres, « - », « . » ou « _ »"))
    if not text or len(text) > 20_000:
        raise PortalStateError(N_("text : entre 1 et 20 000 caractères"))
    if version == (await current_charter(core)).version:
        raise PortalStateError(
            N_("version : « %(version)s » est la version en vigueur"), version=version
        )
    exists = await core.db.fetchone("SELECT 1 FROM portal_charters WHERE version = ?", (version,))
    if exists is not None:
        raise PortalStateError(N_("version : « %(version)s » a déjà été publiée"), version=version)
    charter = Charter(version, text, actor, time.time())
    async with core.db.write() as tx:
        await tx.execute(
            "INSERT INTO portal_charters (version, text, created_by, created_at)"
            " VALUES (?, ?, ?, ?)",
            (charter.version, charter.text, charter.created_by, charter.created_at),
        )
        await tx.notify(CHARTER_TOPIC)
    await core.audit.record(
        actor=actor, source=source, action="portal.charter", target=version, outcome="success"
    )
    return charter


async def acceptances(core: Core, version: str) -> int:
    """Return how many accounts accepted ``version``."""
    row = await core.db.fetchone(
        "SELECT COUNT(*) AS n FROM portal_charter WHERE version = ?", (version,)
    )
    return int(row["n"]) if row else 0


# -- per-role rules -----------------------------------------------------------------


def _role_key(role: str, key: str) -> str:
    return f"portal.roles.{role}.{key}"


async def role_settings(core: Core) -> dict[str, PortalRoleConfig]:
    """Return each role's rules: the config's, with the changes made in the admin UI.

    A rule the collectivité's centre locks keeps the config's value (the centre's),
    whatever was changed on the page before the lock.
    """
    roles = dict(core.config.section(PortalConfig).roles)
    locked = await core.executor.run(locked_keys, core.config.site.data_dir)
    for row in await core.db.fetchall("SELECT role, settings FROM portal_role_settings"):
        base = roles.get(row["role"])
        if base is None:
            continue  # a role removed from preau.toml
        try:
            changes = {
                key: value
                for key, value in json.loads(row["settings"]).items()
                if not is_locked(locked, _role_key(row["role"], key))
            }
            roles[row["role"]] = PortalRoleConfig.model_validate({**base.model_dump(), **changes})
        except (ValueError, ValidationError):
            _LOGGER.warning("Ignoring unreadable portal rules for role %s", row["role"])
    return roles


async def set_role_settings(
    core: Core, role: str, changes: dict[str, Any], *, actor: str, source: str
) -> PortalRoleConfig:
    """Change some of a role's rules; the portal applies them within a second."""
    roles = await role_settings(core)
    if role not in roles:
        raise PortalStateError(
            N_("role : « %(role)s » n'est pas l'un des rôles %(known)s"),
            role=role,
            known=", ".join(sorted(roles)),
        )
    unknown = set(changes) - set(PortalRoleConfig.model_fields)
    if unknown:
        raise PortalStateError(N_("%(key)s : clé inconnue"), key=sorted(unknown)[0])
    locked = await core.executor.run(locked_keys, core.config.site.data_dir)
    for key in sorted(changes):
        if is_locked(locked, _role_key(role, key)):
            raise PortalStateError(
                N_("%(key)s : réglage verrouillé par le centre de la collectivité"), key=key
            )
    try:
        updated = PortalRoleConfig.model_validate({**roles[role].model_dump(), **changes})
    except ValidationError as err:
        raise PortalStateError(problems(err)[0]) from err
    row = await core.db.fetchone(
        "SELECT settings FROM portal_role_settings WHERE role = ?", (role,)
    )
    stored = {
        **(json.loads(row["settings"]) if row else {}),
        **updated.model_dump(include=set(changes)),
    }
    async with core.db.write() as tx:
        await tx.execute(
            "INSERT INTO portal_role_settings (role, settings, updated_by, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (role) DO UPDATE SET settings = excluded.settings,"
            " updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            (role, json.dumps(stored, sort_keys=True), actor, time.time()),
        )
        await tx.notify(PORTAL_TOPIC)
    await core.audit.record(
        actor=actor,
        source=source,
        action="portal.roles",
        target=role,
        outcome="success",
        detail=", ".join(f"{k}={v}" for k, v in sorted(stored.items())),
    )
    return updated


# -- sessions ------------------------------------------------------------------------


async def live_sessions(core: Core, now: float | None = None) -> list[dict[str, Any]]:
    """Return open sessions with their devices and today's bytes per device."""
    now = time.time() if now is None else now
    sessions = await core.db.fetchall(
        "SELECT user, role, class_name, started_at, ends_at, bytes_used, throttled"
        " FROM portal_sessions WHERE ends_at > ? ORDER BY user",
        (now,),
    )
    devices = await core.db.fetchall(
        "SELECT d.user, d.mac, d.ip, d.randomised, d.last_active, d.attached_at,"
        " COALESCE(u.up_bytes, 0) AS up_bytes, COALESCE(u.down_bytes, 0) AS down_bytes"
        " FROM portal_devices d LEFT JOIN portal_usage u"
        " ON u.user = d.user AND u.mac = d.mac AND u.day = ? ORDER BY d.attached_at",
        (local_day(core, now),),
    )
    by_user: dict[str, list[dict[str, Any]]] = {}
    for row in devices:
        by_user.setdefault(row["user"], []).append(
            {
                "mac": row["mac"],
                "ip": row["ip"],
                "randomised": bool(row["randomised"]),
                "attached_at": row["attached_at"],
                "last_active": row["last_active"],
                "up_bytes": row["up_bytes"],
                "down_bytes": row["down_bytes"],
            }
        )
    return [
        {
            "user": row["user"],
            "role": row["role"],
            "class": row["class_name"],
            "started_at": row["started_at"],
            "ends_at": row["ends_at"],
            "seconds_left": max(0, int(row["ends_at"] - now)),
            "bytes_used": row["bytes_used"],
            "throttled": bool(row["throttled"]),
            "devices": by_user.get(row["user"], []),
        }
        for row in sessions
    ]


async def end_session(core: Core, user: str, *, actor: str, source: str) -> bool:
    """Log an account out of every device now (kick); return whether it was online."""
    async with core.db.write() as tx:
        ips = [
            r["ip"]
            for r in await tx.fetchall("SELECT ip FROM portal_devices WHERE user = ?", (user,))
        ]
        await tx.execute("DELETE FROM portal_devices WHERE user = ?", (user,))
        ended = await tx.execute("DELETE FROM portal_sessions WHERE user = ?", (user,))
        await tx.executemany("DELETE FROM network_clients WHERE address = ?", [(i,) for i in ips])
        await tx.notify(PORTAL_TOPIC)
        await tx.notify(CLIENTS_TOPIC)
    await core.audit.record(
        actor=actor,
        source=source,
        action="portal.kick",
        target=user,
        outcome="success" if ended else "absent",
    )
    return ended > 0


async def extend_session(
    core: Core, user: str, minutes: int, *, actor: str, source: str
) -> float | None:
    """Give an open session ``minutes`` more; return its new end, or None if offline."""
    if not 0 < minutes <= MAX_EXTEND_MINUTES:
        raise PortalStateError(N_("minutes : entre 1 et %(most)s"), most=MAX_EXTEND_MINUTES)
    now = time.time()
    async with core.db.write() as tx:
        row = await tx.fetchone(
            "SELECT ends_at FROM portal_sessions WHERE user = ? AND ends_at > ?", (user, now)
        )
        if row is None:
            ends_at = None
        else:
            ends_at = min(row["ends_at"] + minutes * 60, now + 7 * 86_400 - 60)
            await tx.execute(
                "UPDATE portal_sessions SET ends_at = ? WHERE user = ?", (ends_at, user)
            )
            await tx.execute(
                "UPDATE network_clients SET expires_at = ? WHERE person_id = ?", (ends_at, user)
            )
            await tx.notify(PORTAL_TOPIC)
    await core.audit.record(
        actor=actor,
        source=source,
        action="portal.extend",
        target=user,
        outcome="success" if ends_at else "absent",
        detail=f"{minutes} min",
    )
    return ends_at


# -- vouchers ------------------------------------------------------------------------


async def create_vouchers(
    core: Core,
    *,
    count: int,
    minutes: int,
    max_devices: int,
    valid_days: int,
    label: str,
    actor: str,
    source: str,
) -> list[tuple[int, str]]:
    """Create guest vouchers; return (id, code) pairs: the codes are not kept."""
    if not 1 <= count <= 200:
        raise PortalStateError(N_("count : entre 1 et 200"))
    if not 1 <= minutes <= 7 * 1440:
        raise PortalStateError(N_("minutes : entre 1 et 10 080"))
    if not 1 <= max_devices <= 5:
        raise PortalStateError(N_("max_devices : entre 1 et 5"))
    if not 1 <= valid_days <= 365:
        raise PortalStateError(N_("valid_days : entre 1 et 365"))
    now = time.time()
    created: list[tuple[int, str]] = []
    async with core.db.write() as tx:
        for _ in range(count):
            code = "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(VOUCHER_LENGTH))
            voucher_id = await tx.insert(
                "INSERT INTO portal_vouchers (code_hash, label, minutes, max_devices,"
                " created_by, created_at, valid_until) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    _code_hash(code),
                    label.strip()[:100],
                    minutes,
                    max_devices,
                    actor,
                    now,
                    now + valid_days * 86_400,
                ),
            )
            created.append((voucher_id, f"{code[:5]}-{code[5:]}"))
    await core.audit.record(
        actor=actor,
        source=source,
        action="portal.vouchers",
        outcome="success",
        detail=f"{count} × {minutes} min",
    )
    return created


async def vouchers(core: Core, limit: int = 500) -> list[dict[str, Any]]:
    """Return vouchers (never their codes), newest first."""
    rows = await core.db.fetchall(
        "SELECT id, label, minutes, max_devices, created_by, created_at, valid_until,"
        " first_used_at, revoked_at FROM portal_vouchers ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [dict(row) for row in rows]


async def revoke_voucher(core: Core, voucher_id: int, *, actor: str, source: str) -> bool:
    """Revoke a voucher and end its guest session."""
    async with core.db.write() as tx:
        changed = await tx.execute(
            "UPDATE portal_vouchers SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (time.time(), voucher_id),
        )
    if changed:
        await end_session(core, f"{GUEST_PREFIX}{voucher_id}", actor=actor, source=source)
    return changed > 0


async def redeem_voucher(core: Core, code: str, now: float | None = None) -> VoucherGrant | None:
    """Return the guest grant of a valid code (its time starts at first use), or None."""
    now = time.time() if now is None else now
    if len(normalise_code(code)) != VOUCHER_LENGTH:
        return None
    async with core.db.write() as tx:
        row = await tx.fetchone(
            "SELECT id, minutes, max_devices, valid_until, first_used_at FROM portal_vouchers"
            " WHERE code_hash = ? AND revoked_at IS NULL",
            (_code_hash(code),),
        )
        if row is None:
            return None
        first = row["first_used_at"]
        if first is None:
            if row["valid_until"] <= now:
                return None
            first = now
            await tx.execute(
                "UPDATE portal_vouchers SET first_used_at = ? WHERE id = ?", (now, row["id"])
            )
    ends_at = first + row["minutes"] * 60
    if ends_at <= now:
        return None
    return VoucherGrant(row["id"], f"{GUEST_PREFIX}{row['id']}", ends_at, row["max_devices"])


# -- accounting ----------------------------------------------------------------------


async def usage(core: Core, first_day: str, last_day: str, *, per_device: bool) -> list[Any]:
    """Return usage between two local days: per device, or per account and day."""
    if per_device:
        sql = (
            "SELECT day, user, mac, up_bytes, down_bytes FROM portal_usage"
            " WHERE day BETWEEN ? AND ? ORDER BY day, user, mac"
        )
    else:
        sql = (
            "SELECT day, user, SUM(up_bytes) AS up_bytes, SUM(down_bytes) AS down_bytes,"
            " COUNT(*) AS devices FROM portal_usage WHERE day BETWEEN ? AND ?"
            " GROUP BY day, user ORDER BY day, user"
        )
    return [dict(r) for r in await core.db.fetchall(sql, (first_day, last_day))]


async def alerts(core: Core, limit: int = 200) -> list[dict[str, Any]]:
    """Return usage alerts, newest first."""
    rows = await core.db.fetchall(
        "SELECT day, user, kind, bytes, created_at FROM portal_alerts"
        " ORDER BY created_at DESC LIMIT ?",
        (limit,),
    )
    return [dict(r) for r in rows]


async def purge_usage(core: Core) -> int:
    """Forget per-device usage and alerts past ``portal.usage_retention_days``."""
    cutoff = local_day(
        core, time.time() - core.config.section(PortalConfig).usage_retention_days * 86_400
    )
    async with core.db.write() as tx:
        removed = await tx.execute("DELETE FROM portal_usage WHERE day < ?", (cutoff,))
        await tx.execute("DELETE FROM portal_alerts WHERE day < ?", (cutoff,))
        await tx.execute(
            "DELETE FROM portal_dhcp_devices WHERE last_seen < ?",
            (time.time() - core.config.section(PortalConfig).usage_retention_days * 86_400,),
        )
    return removed


async def dhcp_devices(core: Core, limit: int = 2000) -> list[dict[str, Any]]:
    """Return the DHCP inventory, most recently seen first."""
    rows = await core.db.fetchall(
        "SELECT mac, ip, hostname, vendor_class, fingerprint, first_seen, last_seen"
        " FROM portal_dhcp_devices ORDER BY last_seen DESC LIMIT ?",
        (limit,),
    )
    return [dict(r) for r in rows]

"""The control plane's interface to filtering state in the state DB.

The admin API and the CLI write here (overrides, list registry); the filter
service reads here and is told about changes through the change feed. Neither
side reaches into the other's code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from appliance.atomic import write_atomic
from appliance.audit import utc_now_iso
from appliance.i18n import N_
from appliance.identity import subgroups
from appliance.problems import UserError
from filter.class_blocks import OVERRIDES_TOPIC
from filter.config import FilterConfig

if TYPE_CHECKING:
    from appliance.core import Core
    from filter.lists import ListStats

LISTS_TOPIC: Final = "filter.lists"

TargetKind = Literal["class", "group", "clients", "subgroup"]
OverrideKind = Literal["block_all", "allowlist_only", "block_domains", "tighten"]
MAX_OVERRIDE_SECONDS: Final = 24 * 3600


class FilterStateError(UserError):
    """A request about filtering state that cannot be honoured (named field, reason)."""


@dataclass(frozen=True, slots=True)
class OverrideRow:
    """A stored override."""

    id: int
    target_kind: TargetKind
    target: str
    action: OverrideKind
    domains: tuple[str, ...]
    categories: tuple[str, ...]
    reason: str
    created_by: str
    created_at: float
    expires_at: float

    def as_json(self) -> dict[str, object]:
        """Return the API representation."""
        return {
            "id": self.id,
            "target_kind": self.target_kind,
            "target": self.target,
            "action": self.action,
            "domains": list(self.domains),
            "categories": list(self.categories),
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


def lists_dir(core: Core) -> Path:
    """Return where compiled lists live."""
    return core.config.site.data_dir / "filter" / "lists"


async def add_override(
    core: Core,
    *,
    target_kind: TargetKind,
    target: str,
    action: OverrideKind,
    seconds: int,
    domains: Iterable[str] = (),
    categories: Iterable[str] = (),
    allowlist: str = "",
    reason: str = "",
    actor: str,
    source: str,
    actor_role: str = "referent",
) -> OverrideRow:
    """Store an override durably and tell the filter; it applies within a second.

    ``actor_role`` is kept: a teacher may end a teacher's control, never the
    referent's (:func:`may_end`).
    """
    from filter.lists import normalise

    if target_kind not in ("class", "group", "clients", "subgroup"):
        raise FilterStateError(
            N_("target_kind : « %(kind)s » n'est ni class, ni subgroup, ni group, ni clients"),
            kind=target_kind,
        )
    if action not in ("block_all", "allowlist_only", "block_domains", "tighten"):
        raise FilterStateError(
            N_("action : « %(action)s » n'est pas un contrôle connu"), action=action
        )
    if not 0 < seconds <= MAX_OVERRIDE_SECONDS:
        raise FilterStateError(
            N_("durée : entre 1 s et %(hours)s h"), hours=MAX_OVERRIDE_SECONDS // 3600
        )
    names = list(domains)
    if allowlist:
        lists = core.config.section(FilterConfig).allowlists
        if allowlist not in lists:
            raise FilterStateError(
                N_("allowlist : liste « %(name)s » inconnue (listes : %(known)s)"),
                name=allowlist,
                known=", ".join(lists),
            )
        names += lists[allowlist]
    clean = []
    for name in names:
        normalised = normalise(name)
        if normalised is None:
            raise FilterStateError(
                N_("domains : « %(name)s » n'est pas un nom de domaine"), name=name
            )
        clean.append(normalised.decode())
    if action in ("allowlist_only", "block_domains") and not clean:
        raise FilterStateError(
            N_("domains : %(action)s demande des domaines ou une liste autorisée"), action=action
        )
    category_list = sorted(set(categories))
    if action == "tighten" and not category_list:
        raise FilterStateError(N_("categories : tighten demande des catégories"))
    groups = {group.name for group in core.config.section(FilterConfig).groups}
    if target_kind == "group" and target not in groups:
        raise FilterStateError(N_("target : aucun groupe nommé « %(name)s »"), name=target)
    if target_kind == "clients":
        for part in target.split(","):
            try:
                ipaddress.ip_network(part.strip(), strict=False)
            except ValueError as err:
                raise FilterStateError(
                    N_("target : « %(part)s » n'est ni une adresse ni un réseau"), part=part
                ) from err
    if not target.strip():
        raise FilterStateError(N_("target : ne peut pas être vide"))
    if target_kind == "class" and not await core.directory.has_class(target.strip()):
        raise FilterStateError(N_("target : aucune classe « %(name)s »"), name=target.strip())
    if target_kind == "subgroup" and not await target_class(core, target_kind, target.strip()):
        raise FilterStateError(N_("target : aucun groupe de classe n° %(id)s"), id=target.strip())
    now = time.time()
    expires = now + seconds
    async with core.db.write() as tx:
        override_id = await tx.insert(
            "INSERT INTO filter_overrides (target_kind, target, action, domains, categories,"
            " reason, created_by, created_at, expires_at, created_role)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                target_kind,
                target.strip(),
                action,
                json.dumps(clean),
                json.dumps(category_list),
                reason[:200],
                actor,
                now,
                expires,
                actor_role,
            ),
        )
        await tx.notify(OVERRIDES_TOPIC)
    await core.audit.record(
        actor=actor,
        source=source,
        action=f"filter.override.{action}",
        target=f"{target_kind}:{target}",
        outcome="success",
        detail=f"{seconds} s",
    )
    return OverrideRow(
        override_id,
        target_kind,
        target.strip(),
        action,
        tuple(clean),
        tuple(category_list),
        reason[:200],
        actor,
        now,
        expires,
    )


async def active_overrides(core: Core, now: float | None = None) -> list[OverrideRow]:
    """Return the overrides in force (not ended, not expired)."""
    now = time.time() if now is None else now
    rows = await core.db.fetchall(
        "SELECT * FROM filter_overrides WHERE ended_at IS NULL AND expires_at > ? ORDER BY id",
        (now,),
    )
    return [
        OverrideRow(
            row["id"],
            row["target_kind"],
            row["target"],
            row["action"],
            tuple(json.loads(row["domains"])),
            tuple(json.loads(row["categories"])),
            row["reason"],
            row["created_by"],
            row["created_at"],
            row["expires_at"],
        )
        for row in rows
    ]


async def extend_override(
    core: Core, override_id: int, expires_at: float, *, actor: str, source: str
) -> bool:
    """Move an override in force to end at ``expires_at`` (later only); return whether it was."""
    now = time.time()
    async with core.db.write() as tx:
        moved = await tx.execute(
            "UPDATE filter_overrides SET expires_at = ? WHERE id = ? AND ended_at IS NULL"
            " AND expires_at > ? AND expires_at < ? AND ? - created_at <= ?",
            (expires_at, override_id, now, expires_at, expires_at, MAX_OVERRIDE_SECONDS),
        )
        await tx.notify(OVERRIDES_TOPIC)
    await core.audit.record(
        actor=actor,
        source=source,
        action="filter.override.extend",
        target=str(override_id),
        outcome="success" if moved else "absent",
        detail=dt.datetime.fromtimestamp(expires_at, dt.UTC).isoformat(timespec="minutes"),
    )
    return moved > 0


async def override_expiry(core: Core, override_id: int) -> float | None:
    """Return when an override in force ends, or None."""
    row = await core.db.fetchone(
        "SELECT expires_at FROM filter_overrides WHERE id = ? AND ended_at IS NULL"
        " AND expires_at > ?",
        (override_id, time.time()),
    )
    return float(row["expires_at"]) if row is not None else None


async def target_class(core: Core, target_kind: str, target: str) -> str:
    """Return the class an override's target is in ("" for a filtering group or addresses)."""
    if target_kind == "class":
        return target
    if target_kind == "subgroup" and target.isdigit():
        group = await subgroups.subgroup(core, int(target))
        return group.class_name if group is not None else ""
    return ""


async def may_end(core: Core, override_id: int, *, role: str, classes: Iterable[str]) -> bool:
    """Return whether someone may end this override: the referent any; a teacher, a
    teacher's control on one of ``classes`` or their groups (never the referent's, nor a
    filtering group's)."""
    if role == "referent":
        return True
    row = await core.db.fetchone(
        "SELECT target_kind, target, created_role FROM filter_overrides WHERE id = ?",
        (override_id,),
    )
    if row is None or row["created_role"] != "teacher":
        return False
    return await target_class(core, row["target_kind"], row["target"]) in set(classes) - {""}


async def end_override(core: Core, override_id: int, *, actor: str, source: str) -> bool:
    """End an override now; return whether it was in force."""
    async with core.db.write() as tx:
        ended = await tx.execute(
            "UPDATE filter_overrides SET ended_at = ? WHERE id = ? AND ended_at IS NULL"
            " AND expires_at > ?",
            (time.time(), override_id, time.time()),
        )
        await tx.notify(OVERRIDES_TOPIC)
    await core.audit.record(
        actor=actor,
        source=source,
        action="filter.override.end",
        target=str(override_id),
        outcome="success" if ended else "absent",
    )
    return ended > 0


async def register_list(
    core: Core,
    *,
    name: str,
    list_format: str,
    source: str,
    artifact: bytes,
    stats: ListStats,
) -> Path:
    """Store a compiled list atomically and tell the filter to swap it in."""
    folder = lists_dir(core)
    path = folder / f"{name}.pfl"
    await core.executor.run(write_atomic, path, artifact)
    digest = hashlib.sha256(artifact).hexdigest()
    async with core.db.write() as tx:
        await tx.execute(
            "INSERT INTO filter_lists (name, format, source, path, sha256, domains, categories,"
            " not_enforceable, compiled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET format = excluded.format,"
            " source = excluded.source, path = excluded.path, sha256 = excluded.sha256,"
            " domains = excluded.domains, categories = excluded.categories,"
            " not_enforceable = excluded.not_enforceable, compiled_at = excluded.compiled_at",
            (
                name,
                list_format,
                source,
                str(path),
                digest,
                sum(stats.domains.values()),
                json.dumps(stats.domains),
                json.dumps(stats.not_enforceable),
                utc_now_iso(),
            ),
        )
        await tx.notify(LISTS_TOPIC)
    return path


async def registered_lists(core: Core) -> list[dict[str, object]]:
    """Return the registered lists with their statistics."""
    rows = await core.db.fetchall("SELECT * FROM filter_lists ORDER BY name")
    result = []
    for row in rows:
        entry = dict(row)
        entry["categories"] = json.loads(row["categories"])
        entry["not_enforceable"] = json.loads(row["not_enforceable"])
        result.append(entry)
    return result


async def record_traffic(
    core: Core,
    counters: dict[tuple[str, str, str], int],
    blocked: dict[tuple[str, str, str], int],
) -> None:
    """Add hourly counters and blocked-query records (by group, never by address)."""
    if not counters and not blocked:
        return
    hour = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:00Z")
    merged: dict[tuple[str, str], list[int]] = {}
    for (group, category, kind), count in counters.items():
        slot = merged.setdefault((group, category), [0, 0])
        slot[0 if kind == "q" else 1] += count
    async with core.db.write() as tx:
        await tx.executemany(
            "INSERT INTO filter_counters (hour, group_name, category, queries, blocked)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (hour, group_name, category) DO UPDATE SET"
            " queries = queries + excluded.queries, blocked = blocked + excluded.blocked",
            [(hour, g, c, q, b) for (g, c), (q, b) in merged.items()],
        )
        await tx.executemany(
            "INSERT INTO filter_blocked (hour, group_name, domain, category, count)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (hour, group_name, domain) DO UPDATE SET"
            " count = count + excluded.count",
            [(hour, g, d, c, n) for (g, d, c), n in blocked.items()],
        )


async def purge_blocked_log(core: Core) -> int:
    """Forget blocked-query records past ``filter.blocked_log_days``."""
    days = core.config.section(FilterConfig).blocked_log_days
    cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:00Z")
    return await core.db.execute_write("DELETE FROM filter_blocked WHERE hour < ?", (cutoff,))


async def add_unblock_request(
    core: Core, *, domain: str, category: str, group: str, message: str
) -> int:
    """Record a request from the block page (no address, no identity kept)."""
    from filter.lists import normalise

    name = normalise(domain)
    if name is None:
        raise FilterStateError(N_("domain : « %(name)s » n'est pas un nom de domaine"), name=domain)
    async with core.db.write() as tx:
        return await tx.insert(
            "INSERT INTO filter_unblock_requests (domain, category, group_name, message,"
            " created_at) VALUES (?, ?, ?, ?, ?)",
            (name.decode(), category[:64], group[:32], message[:500], utc_now_iso()),
        )


async def unblock_requests(core: Core, limit: int = 200) -> list[dict[str, object]]:
    """Return the newest unblock requests."""
    rows = await core.db.fetchall(
        "SELECT * FROM filter_unblock_requests ORDER BY id DESC LIMIT ?", (limit,)
    )
    return [dict(row) for row in rows]


async def answer_unblock_request(
    core: Core, request_id: int, status: str, *, actor: str, source: str
) -> bool:
    """Close an unblock request; return whether it was open."""
    async with core.db.write() as tx:
        changed = await tx.execute(
            "UPDATE filter_unblock_requests SET status = ? WHERE id = ? AND status = 'open'",
            (status, request_id),
        )
        if changed and status == "allowed":
            row = await tx.fetchone(
                "SELECT domain, group_name FROM filter_unblock_requests WHERE id = ?",
                (request_id,),
            )
            assert row is not None  # noqa: S101 - just updated
            await tx.execute(
                "INSERT OR IGNORE INTO filter_local_allow (domain, group_name, created_by,"
                " created_at) VALUES (?, ?, ?, ?)",
                (row["domain"], row["group_name"], actor, utc_now_iso()),
            )
            await tx.notify(OVERRIDES_TOPIC)
    await core.audit.record(
        actor=actor,
        source=source,
        action="filter.unblock_request",
        target=str(request_id),
        outcome=status if changed else "absent",
    )
    return changed > 0


async def local_allow(core: Core) -> dict[str, list[str]]:
    """Return the domains allowed per group from answered unblock requests."""
    rows = await core.db.fetchall("SELECT domain, group_name FROM filter_local_allow")
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row["group_name"], []).append(row["domain"])
    return found

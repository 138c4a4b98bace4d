"""The portal's sessions in the state DB: loaded at start, stored in batches."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from appliance.audit import AuditLog, utc_now_iso
from appliance.network_clients import CLIENTS_TOPIC
from appliance.state.db import Transaction
from captive_portal.portal_base import (
    PortalBase,
    StoreRequest,
)
from captive_portal.sessions import (
    Device,
    Session,
)

_LOGGER = logging.getLogger(__name__)


class Persistence(PortalBase):
    """The portal's sessions in the state DB: loaded at start, stored in batches."""

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

    async def _store(self, request: StoreRequest) -> None:
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

    async def _store_in(self, tx: Transaction, request: StoreRequest) -> None:
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
                " class_name, level, expires_at, since) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    device.ip,
                    session.user,
                    session.role,
                    class_name,
                    level,
                    session.ends_at,
                    device.attached_at,
                ),
            )
        await tx.execute(
            "INSERT OR IGNORE INTO portal_charter (user, version, device_mac, accepted_at)"
            " VALUES (?, ?, ?, ?)",
            (
                session.user,
                (self.guest_charter if session.role == "guest" else self.charter).version,
                mac,
                utc_now_iso(),
            ),
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

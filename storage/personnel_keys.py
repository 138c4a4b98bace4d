"""PERSONNEL's keys: unlocked at login, escrow, resealing, recovery codes."""

from __future__ import annotations

import logging
import time

from storage import escrow, vault
from storage.config import ProductionsConfig
from storage.store_base import (
    StoreBase,
    Unlocked,
    _create_keys,
)

_LOGGER = logging.getLogger(__name__)


class PersonnelKeys(StoreBase):
    """PERSONNEL's keys: unlocked at login, escrow, resealing, recovery codes."""

    async def unlock_at_login(self, user: str, password: str, session_hash: str) -> None:
        """Open (or create) the person's PERSONNEL key with the password just checked."""
        cfg = self.core.config.section(ProductionsConfig)
        self.keyring.prune(self.core.config.web.session_absolute_hours * 3600)
        row = await self.core.db.fetchone(
            "SELECT by_password FROM personnel_keys WHERE user = ?", (user,)
        )
        if row is None:
            keys = await self.core.executor.run(
                _create_keys, password, cfg.kdf_profile, cfg.recovery_codes
            )
            now = time.time()
            async with self.core.db.write() as tx:
                await tx.execute(
                    "INSERT OR IGNORE INTO personnel_keys (user, recipient, by_password,"
                    " by_recovery, created_at, sealed_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        user,
                        keys.recipient,
                        keys.by_password.to_json(),
                        keys.by_recovery.to_json() if keys.by_recovery else None,
                        now,
                        now,
                    ),
                )
            self.keyring.sessions[session_hash] = Unlocked(user, keys.identity, keys.recovery_code)
            await self._seal_for_escrow(user, keys.identity)
            return
        sealed = vault.SealedIdentity.from_json(row["by_password"])
        try:
            identity = await self.core.executor.run(vault.open_sealed, sealed, password)
        except vault.VaultError:
            # The directory has a new password: PERSONNEL waits for the old one or the code.
            self.keyring.sessions[session_hash] = Unlocked(user, None)
            return
        self.keyring.sessions[session_hash] = Unlocked(user, identity)
        await self._seal_for_escrow(user, identity)

    async def _seal_for_escrow(self, user: str, identity: str) -> None:
        """Seal the key to the escrow, once, if the school set one up."""
        row = await self.core.db.fetchone(
            "SELECT e.recipient FROM personnel_escrow e, personnel_keys k"
            " WHERE k.user = ? AND k.by_escrow IS NULL",
            (user,),
        )
        if row is None:
            return
        sealed = await self.core.executor.run(
            escrow.seal_for_escrow, identity, str(row["recipient"])
        )
        await self.core.db.execute_write(
            "UPDATE personnel_keys SET by_escrow = ? WHERE user = ?", (sealed, user)
        )

    async def create_escrow(self, custodians: int, threshold: int, *, actor: str) -> list[str]:
        """Set the escrow up; return the custodians' shares (to print, never stored)."""
        if await self.core.db.fetchone("SELECT 1 FROM personnel_escrow") is not None:
            raise escrow.EscrowError("an escrow exists already")
        made = await self.core.executor.run(escrow.create, custodians, threshold)
        await self.core.db.execute_write(
            "INSERT INTO personnel_escrow (id, recipient, custodians, threshold, created_at)"
            " VALUES (1, ?, ?, ?, ?)",
            (made.recipient, custodians, threshold, time.time()),
        )
        await self.core.audit.record(
            actor=actor,
            source="cli",
            action="personnel.escrow",
            outcome="created",
            detail=f"{threshold} of {custodians} custodians",
        )
        return made.shares

    async def open_by_escrow(self, user: str, shares: list[str], *, actor: str) -> str:
        """Return a person's PERSONNEL identity from custodians' shares (audited)."""
        row = await self.core.db.fetchone(
            "SELECT by_escrow FROM personnel_keys WHERE user = ?", (user,)
        )
        if row is None or row["by_escrow"] is None:
            raise escrow.EscrowError(f"{user}: no key sealed to the escrow")
        try:
            escrow_identity = await self.core.executor.run(escrow.rebuild, shares)
            identity = await self.core.executor.run(
                escrow.open_from_escrow, str(row["by_escrow"]), escrow_identity
            )
        except escrow.EscrowError:
            await self.core.audit.record(
                actor=actor,
                source="cli",
                action="personnel.escrow_open",
                target=user,
                outcome="failure",
            )
            raise
        await self.core.audit.record(
            actor=actor,
            source="cli",
            action="personnel.escrow_open",
            target=user,
            outcome="success",
            detail=f"{len(shares)} shares",
        )
        return identity

    async def reseal(
        self,
        session_hash: str,
        user: str,
        password: str,
        *,
        old_password: str = "",
        recovery_code: str = "",
    ) -> None:
        """Seal the key under ``password`` again (a changed password, or a recovery)."""
        row = await self.core.db.fetchone(
            "SELECT by_password, by_recovery FROM personnel_keys WHERE user = ?", (user,)
        )
        if row is None:
            raise vault.VaultError("no PERSONNEL key for this account")
        if recovery_code:
            if row["by_recovery"] is None:
                raise vault.VaultError("recovery codes are off")
            sealed = vault.SealedIdentity.from_json(row["by_recovery"])
            secret = vault.normalise_code(recovery_code)
        else:
            sealed = vault.SealedIdentity.from_json(row["by_password"])
            secret = old_password
        identity = await self.core.executor.run(vault.open_sealed, sealed, secret)
        profile = self.core.config.section(ProductionsConfig).kdf_profile
        resealed = await self.core.executor.run(vault.seal, identity, password, profile)
        async with self.core.db.write() as tx:
            await tx.execute(
                "UPDATE personnel_keys SET by_password = ?, sealed_at = ? WHERE user = ?",
                (resealed.to_json(), time.time(), user),
            )
        self.keyring.sessions[session_hash] = Unlocked(user, identity)
        await self.core.audit.record(
            actor=user,
            source="web",
            action="personnel.reseal",
            outcome="success",
            detail="recovery code" if recovery_code else "old password",
        )

    def take_recovery_code(self, session_hash: str) -> str:
        """Return the new recovery code once (then forget it)."""
        unlocked = self.keyring.sessions.get(session_hash)
        if unlocked is None or not unlocked.recovery_code:
            return ""
        code, unlocked.recovery_code = unlocked.recovery_code, ""
        return code

    async def open_identity(self, user: str, password: str) -> str | None:
        """Return PERSONNEL's identity for a password (None: no key yet, or another password).

        Never creates keys: a first login on the web page does, and shows the
        recovery code there.
        """
        row = await self.core.db.fetchone(
            "SELECT by_password FROM personnel_keys WHERE user = ?", (user,)
        )
        if row is None:
            return None
        try:
            identity: str = await self.core.executor.run(
                vault.open_sealed, vault.SealedIdentity.from_json(row["by_password"]), password
            )
        except vault.VaultError:
            return None
        return identity

    async def has_personnel_key(self, user: str) -> bool:
        """Return whether the person's PERSONNEL has a key (it was opened once)."""
        row = await self.core.db.fetchone("SELECT 1 FROM personnel_keys WHERE user = ?", (user,))
        return row is not None

"""The second factor's state: secrets, recovery codes, and whether the clock is right.

A person's factor is written in two steps: :meth:`SecondFactors.begin` keeps
a new secret unconfirmed, and :meth:`SecondFactors.confirm` activates it only
when a first code from the app matches (issue #16, scope 9). Accepting a
time code moves ``last_step`` forward in the same UPDATE that checks it, so
two requests racing with one code cannot both pass. Recovery codes are
argon2id hashes (the OWASP floor: ten checks stay under a second on a Pi),
checked in the bounded executor.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from appliance.executor import BlockingExecutor
from appliance.identity import second_factor as rules
from appliance.identity.passwords import hasher_for, verify
from appliance.state.db import StateDB, Transaction

# adjtimex(2) answers TIME_ERROR while the kernel's clock is not kept by NTP.
_TIME_ERROR: Final = 5
_TIMESYNCD_FLAG: Final = Path("/run/systemd/timesync/synchronized")

Verdict = Literal["totp", "recovery", "wrong", "clock"]


def kernel_clock_synchronised() -> bool:
    """Return whether NTP keeps the clock (adjtimex, or systemd-timesyncd's flag)."""
    try:
        # The interpreter's own symbols hold libc: no find_library(), which runs
        # ldconfig in a subprocess, on a login's path.
        libc = ctypes.CDLL(None, use_errno=True)
        # struct timex with modes = 0: read only, no privilege needed. 512 bytes
        # cover the structure on every architecture the box runs on.
        timex = ctypes.create_string_buffer(512)
        state = int(libc.adjtimex(timex))
    except (OSError, AttributeError):
        state = _TIME_ERROR
    return (0 <= state < _TIME_ERROR) or _TIMESYNCD_FLAG.exists()


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A person's second factor as stored."""

    secret: str
    confirmed: bool
    last_step: int
    codes_left: int


class SecondFactors:
    """Begin, confirm, check, renew and remove people's second factors."""

    def __init__(self, db: StateDB, executor: BlockingExecutor) -> None:
        """Bind the store to the state DB and the executor that hashes codes."""
        self._db = db
        self._executor = executor
        self._hasher = hasher_for("owasp-minimum")

    async def enrolment(self, person_id: str) -> Enrolment | None:
        """Return the person's factor, confirmed or not, or None."""
        row = await self._db.fetchone(
            "SELECT secret, confirmed_at, last_step, (SELECT COUNT(*) FROM second_factor_recovery"
            " r WHERE r.person_id = f.person_id AND r.used_at IS NULL) AS codes_left"
            " FROM second_factors f WHERE person_id = ?",
            (person_id,),
        )
        if row is None:
            return None
        return Enrolment(
            row["secret"], row["confirmed_at"] is not None, row["last_step"], row["codes_left"]
        )

    async def active(self, person_id: str) -> bool:
        """Return whether login asks this person for a code."""
        row = await self._db.fetchone(
            "SELECT 1 FROM second_factors WHERE person_id = ? AND confirmed_at IS NOT NULL",
            (person_id,),
        )
        return row is not None

    async def begin(self, person_id: str) -> str:
        """Keep a new, unconfirmed secret for the person; return it (a confirmed one stays)."""
        secret = rules.new_secret()
        await self._db.execute_write(
            "INSERT INTO second_factors (person_id, secret, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (person_id) DO UPDATE SET secret = excluded.secret,"
            " created_at = excluded.created_at WHERE confirmed_at IS NULL",
            (person_id, secret, time.time()),
        )
        enrolment = await self.enrolment(person_id)
        assert enrolment is not None  # noqa: S101 - written just above
        return enrolment.secret

    async def confirm(self, person_id: str, typed: str, now: float) -> list[str] | None:
        """Activate the pending secret if ``typed`` is its code; return the recovery codes."""
        enrolment = await self.enrolment(person_id)
        if enrolment is None or enrolment.confirmed:
            return None
        check = rules.check_time_code(enrolment.secret, typed, now, enrolment.last_step)
        if not check.accepted:
            return None
        codes = rules.new_recovery_codes()
        hashes = await self._hash_codes(codes)
        async with self._db.write() as tx:
            changed = await tx.execute(
                "UPDATE second_factors SET confirmed_at = ?, last_step = ?"
                " WHERE person_id = ? AND confirmed_at IS NULL AND secret = ?",
                (now, check.step, person_id, enrolment.secret),
            )
            if not changed:
                return None
            await self._replace_codes(tx, person_id, hashes)
        return codes

    async def check(self, person_id: str, typed: str, now: float, *, clock_ok: bool) -> Verdict:
        """Check a code at login: a time code (needs a right clock) or a recovery code."""
        enrolment = await self.enrolment(person_id)
        if enrolment is None or not enrolment.confirmed:
            return "wrong"
        if rules.kind_of(typed) == "totp":
            if not clock_ok:
                return "clock"
            check = rules.check_time_code(enrolment.secret, typed, now, enrolment.last_step)
            if not check.accepted:
                return "wrong"
            changed = await self._db.execute_write(
                "UPDATE second_factors SET last_step = ? WHERE person_id = ? AND last_step < ?",
                (check.step, person_id, check.step),
            )
            return "totp" if changed else "wrong"
        return "recovery" if await self._use_recovery_code(person_id, typed, now) else "wrong"

    async def renew_codes(self, person_id: str) -> list[str]:
        """Replace the person's recovery codes with ten new ones; return them."""
        codes = rules.new_recovery_codes()
        hashes = await self._hash_codes(codes)
        async with self._db.write() as tx:
            await self._replace_codes(tx, person_id, hashes)
        return codes

    async def remove(self, person_id: str) -> bool:
        """Remove the person's factor and codes; return whether there was one."""
        async with self._db.write() as tx:
            removed = await tx.execute(
                "DELETE FROM second_factors WHERE person_id = ?", (person_id,)
            )
            await tx.execute("DELETE FROM second_factor_recovery WHERE person_id = ?", (person_id,))
        return removed > 0

    async def _hash_codes(self, codes: list[str]) -> list[str]:
        folded = [rules.fold_recovery_code(code) for code in codes]
        return await self._executor.run(lambda: [self._hasher.hash(code) for code in folded])

    @staticmethod
    async def _replace_codes(tx: Transaction, person_id: str, hashes: list[str]) -> None:
        await tx.execute("DELETE FROM second_factor_recovery WHERE person_id = ?", (person_id,))
        await tx.executemany(
            "INSERT INTO second_factor_recovery (person_id, code_hash) VALUES (?, ?)",
            [(person_id, code_hash) for code_hash in hashes],
        )

    async def _use_recovery_code(self, person_id: str, typed: str, now: float) -> bool:
        if not rules.plausible_recovery_code(typed):
            return False
        folded = rules.fold_recovery_code(typed)
        rows = await self._db.fetchall(
            "SELECT code_hash FROM second_factor_recovery WHERE person_id = ? AND used_at IS NULL",
            (person_id,),
        )
        hashes = [row["code_hash"] for row in rows]

        def matching() -> str | None:
            return next((h for h in hashes if verify(self._hasher, h, folded)), None)

        found = await self._executor.run(matching)
        if found is None:
            return False
        used = await self._db.execute_write(
            "UPDATE second_factor_recovery SET used_at = ?"
            " WHERE person_id = ? AND code_hash = ? AND used_at IS NULL",
            (now, person_id, found),
        )
        return used > 0

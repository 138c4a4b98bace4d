"""The directory service: watches that the directory answers.

Its health is what the dashboard shows for the directory. Logins themselves
go through :class:`~appliance.identity.directory.Directory` in whichever
process serves them; the sync is a scheduled job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import ClassVar

from appliance.i18n import N_
from appliance.service import Health, Service

_LOGGER = logging.getLogger(__name__)


class DirectoryService(Service):
    """Check the directory's reachability periodically."""

    name: ClassVar[str] = "directory"

    async def async_start(self) -> None:
        """Check now, then every ``identity.health_interval_seconds``."""
        await self.core.directory.check_health()
        self._task = asyncio.create_task(self._watch(), name="preau-directory-watch")

    async def async_stop(self) -> None:
        """Stop checking."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _watch(self) -> None:
        interval = self.core.config.identity.health_interval_seconds
        while True:
            await asyncio.sleep(interval)
            before = self.core.directory.status.status
            status = await self.core.directory.check_health()
            # Report a change at once rather than at the next health tick.
            if status.status != before:
                await self.core.report_health()

    async def async_health(self) -> Health:
        """Report the last reachability check."""
        status = self.core.directory.status
        if status.status == "disabled":
            return Health("ok", N_("comptes locaux uniquement"))
        if status.status == "down":
            return Health(
                "down", N_("annuaire injoignable : %(reason)s"), {"reason": status.detail}
            )
        return Health("ok", N_("annuaire joignable : %(server)s"), {"server": status.detail})

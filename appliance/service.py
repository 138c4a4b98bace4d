"""The one shape every Préau service has.

A service is set up (opens what it owns), started (serves), asked for its
health, and stopped. The core runs any subset of services in one process:
``preau run`` runs them all (the demo default), ``preau run web`` runs one, as
a systemd unit does. Services never call each other: they share the core's
state DB, change feed, directory and audit log.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from appliance.core import Core

HealthStatus = Literal["ok", "degraded", "down"]


@dataclass(frozen=True, slots=True)
class Health:
    """A service's own view of whether it works.

    ``detail`` is French and a message id of the catalogues (marked ``N_``),
    with a ``%(name)s`` placeholder for each of ``values``: the dashboard shows
    it in the reader's language, logs and the CLI in French (:attr:`text`).
    """

    status: HealthStatus
    detail: str = ""
    values: Mapping[str, str | int | float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Return the detail in French, its values filled in."""
        return self.detail % dict(self.values)


class Service(ABC):
    """Base class of every service run by the core."""

    name: ClassVar[str]

    def __init__(self, core: Core) -> None:
        """Attach the service to the core; open nothing yet."""
        self.core = core

    async def async_setup(self) -> None:  # noqa: B027 - optional hook
        """Open the resources the service owns (sockets, clients)."""

    @abstractmethod
    async def async_start(self) -> None:
        """Start serving."""

    @abstractmethod
    async def async_stop(self) -> None:
        """Stop serving and release what setup opened."""

    @abstractmethod
    async def async_health(self) -> Health:
        """Report the service's health."""

"""Assemble the services a process runs: the kernel's own and the features'.

This is the composition root of ``preau run``: it alone imports the kernel's
service classes, so that the list of service names (:mod:`appliance.services`),
which the web pages show, never imports the web service back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final

from appliance.identity.service import DirectoryService
from appliance.scheduler.service import SchedulerService
from appliance.services import chosen_specs
from appliance.web.service import WebService

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.service import Service

_KERNEL: Final[dict[str, Callable[[Core], Service]]] = {
    "directory": DirectoryService,
    "scheduler": SchedulerService,
    "web": WebService,
}


def create_services(core: Core, names: Iterable[str]) -> list[Service]:
    """Instantiate the named services (all enabled ones if none), in start order."""
    return [
        (spec.create or _KERNEL[spec.name])(core)
        for spec in chosen_specs(core.config, names, core.features)
    ]

"""Assemble the services a process runs: the kernel's own and the features'.

This is the composition root of ``preau run``: it alone imports the kernel's
service classes, so that the list of service names (:mod:`appliance.services`),
which the web pages show, never imports the web service back. It imports
only the services it creates: the filter's process never loads the web app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final

from appliance.features import resolve
from appliance.services import chosen_specs

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.service import Service

_KERNEL: Final = {
    "directory": "appliance.identity.service:DirectoryService",
    "scheduler": "appliance.scheduler.service:SchedulerService",
    "web": "appliance.web.service:WebService",
}


def create_services(core: Core, names: Iterable[str]) -> list[Service]:
    """Instantiate the named services (all enabled ones if none), in start order."""
    services = []
    for spec in chosen_specs(core.config, names, core.features):
        create: Callable[[Core], Service] = spec.create or resolve(_KERNEL[spec.name])
        services.append(create(core))
    return services

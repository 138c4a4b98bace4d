"""The services this build of Préau can run, by name.

``preau run`` starts all of them in one process; ``preau run NAME`` starts
one, as its systemd unit does. Imports are lazy so a unit only loads its own
code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from appliance.config import PreauConfig
    from appliance.core import Core
    from appliance.service import Service

SERVICE_NAMES: Final = ("directory", "scheduler", "filter", "portal", "cache", "web")


def enabled_service_names(config: PreauConfig) -> tuple[str, ...]:
    """Return the services this config runs when none is named."""
    disabled = set()
    if not config.filter.enabled:
        disabled.add("filter")
    if not config.portal.enabled:
        disabled.add("portal")
    if not config.cache.enabled:
        disabled.add("cache")
    return tuple(name for name in SERVICE_NAMES if name not in disabled)


class UnknownServiceError(ValueError):
    """A service name that this build does not have."""


def create_services(core: Core, names: Iterable[str]) -> list[Service]:
    """Instantiate the named services, in start order."""
    wanted = list(dict.fromkeys(names)) or list(enabled_service_names(core.config))
    unknown = [name for name in wanted if name not in SERVICE_NAMES]
    if unknown:
        raise UnknownServiceError(
            f"unknown service {', '.join(unknown)}; known: {', '.join(SERVICE_NAMES)}"
        )
    services: list[Service] = []
    for name in SERVICE_NAMES:
        if name not in wanted:
            continue
        if name == "directory":
            from appliance.identity.service import DirectoryService

            services.append(DirectoryService(core))
        elif name == "scheduler":
            from appliance.scheduler.service import SchedulerService

            services.append(SchedulerService(core))
        elif name == "filter":
            if not core.config.filter.enabled:
                continue
            from filter.service import FilterService

            services.append(FilterService(core))
        elif name == "portal":
            if not core.config.portal.enabled:
                continue
            from captive_portal.service import PortalService

            services.append(PortalService(core))
        elif name == "cache":
            if not core.config.cache.enabled:
                continue
            from cache.service import CacheService

            services.append(CacheService(core))
        elif name == "web":
            from appliance.web.service import WebService

            services.append(WebService(core))
    return services

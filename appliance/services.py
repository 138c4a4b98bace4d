"""The services this build of Préau can run, by name, assembled from the registry.

``preau run`` starts all of them in one process; ``preau run NAME…`` starts
those named, as a systemd unit does (:func:`unit_services`: the filter, the
portal and the cache each have their own, for the privileges they hold; the
others share the web's). The kernel's own services (directory,
scheduler) start first, then each feature's in the registry's order, then the
web service, which serves the pages of all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from appliance.features import Feature, ServiceSpec, installed_features

if TYPE_CHECKING:
    from appliance.config import PreauConfig


# The kernel's own services; :mod:`appliance.assembly` creates them (importing
# them here would close a cycle: the web service's pages show this list).
KERNEL_FIRST: Final = ("directory", "scheduler")
KERNEL_LAST: Final = ("web",)
# The unit whose process runs the services that need no unit of their own.
SHARED_UNIT: Final = "web"


def service_specs(features: tuple[Feature, ...] | None = None) -> tuple[ServiceSpec, ...]:
    """Return every service in start order: kernel first, features, then the web."""
    chosen = installed_features() if features is None else features
    specs = [ServiceSpec(name, None, unit=SHARED_UNIT) for name in KERNEL_FIRST]
    for feature in chosen:
        specs += feature.services
    specs += [ServiceSpec(name, None) for name in KERNEL_LAST]
    return tuple(specs)


def unit_services(features: tuple[Feature, ...] | None = None) -> dict[str, tuple[str, ...]]:
    """Return each systemd unit's name (preau-NAME.service) and its services, in start order."""
    units: dict[str, tuple[str, ...]] = {}
    for spec in service_specs(features):
        unit = spec.unit or spec.name
        units[unit] = (*units.get(unit, ()), spec.name)
    return units


def service_names(features: tuple[Feature, ...] | None = None) -> tuple[str, ...]:
    """Return the names of every service this build has, in start order."""
    return tuple(spec.name for spec in service_specs(features))


def enabled_service_names(
    config: PreauConfig, features: tuple[Feature, ...] | None = None
) -> tuple[str, ...]:
    """Return the services this config runs when none is named."""
    return tuple(spec.name for spec in service_specs(features) if spec.enabled(config))


class UnknownServiceError(ValueError):
    """A service name that this build does not have."""


def chosen_specs(
    config: PreauConfig, names: Iterable[str], features: tuple[Feature, ...]
) -> list[ServiceSpec]:
    """Return the specs of the named services (all enabled ones if none), in start order.

    A named service that the config disables is left out: its unit stays up
    and idle rather than failing (the config says the school does not use it).
    """
    specs = service_specs(features)
    known = [spec.name for spec in specs]
    wanted = list(dict.fromkeys(names)) or list(enabled_service_names(config, features))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise UnknownServiceError(
            f"unknown service {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return [spec for spec in specs if spec.name in wanted and spec.enabled(config)]

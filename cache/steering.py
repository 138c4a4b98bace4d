"""Which names the DNS filter steers to the update cache.

The filter and the cache are separate services; this is the one place that
reads the cache's rules file for the filter: the names of rules marked
``steer`` plus the site's own ``filter.cache_steering.names``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cache.config import CacheConfig
from cache.rules import load_rules
from filter.config import FilterConfig

if TYPE_CHECKING:
    from appliance.config import PreauConfig


def steered_names(config: PreauConfig) -> list[str]:
    """Return the names to steer (blocking: reads the rules file)."""
    steering = config.section(FilterConfig).cache_steering
    if not steering.enabled:
        return []
    names = load_rules(config.section(CacheConfig).rules_file).steered_names()
    names += [name.lower() for name in steering.names if name.lower() not in names]
    return names

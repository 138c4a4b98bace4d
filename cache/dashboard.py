"""The cache's part of the referent's dashboard: what it saved the school's link (#16).

Saved bytes are what devices got from the cache minus what the cache fetched
from the internet, by local day (``cache_traffic``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.dashboard import Figure, Window
from appliance.i18n import N_
from cache.config import CacheConfig

if TYPE_CHECKING:
    from appliance.core import Core


async def cache_figures(core: Core, window: Window) -> list[Figure]:
    """Return the bytes the cache saved today and on each of the 30 days."""
    if not core.config.section(CacheConfig).enabled:
        return []
    rows = await core.db.fetchall(
        "SELECT day, SUM(served_bytes) AS served, SUM(fetched_bytes) AS fetched"
        " FROM cache_traffic WHERE day >= ? GROUP BY day",
        (window.first.isoformat(),),
    )
    saved = {str(r["day"]): float(max(0, r["served"] - r["fetched"])) for r in rows}
    return [
        Figure(
            key="cache.saved",
            label=N_("Téléchargements économisés"),
            link="/cache",
            today=saved.get(window.today.isoformat(), 0.0),
            unit="bytes",
            days=saved,
            caption=N_("octets économisés par jour"),
        )
    ]

"""What the storage gives the site report the centre reads (issue #14, scope 4).

Site-level figures only: bytes used per space type, how many accounts are past
the quota's first warning per space (a count the report suppresses under 5),
the antivirus signatures' age, the age and state of the last backup and
restore test, and the conformity of this setup to #8.1, #8.12, #7.15 and
#8.18. No person, no file name (CARMO chapter 20, table 9).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Final

from appliance.antivirus import signatures_built_at
from appliance.site_status import carmo_row
from storage.config import ProductionsConfig
from storage.dashboard import backup_runs, space_usage
from storage.jobs import BACKUP_JOB, RESTORE_TEST_JOB

if TYPE_CHECKING:
    from appliance.core import Core

JOB_FIGURES = ((BACKUP_JOB, "preau_backup"), (RESTORE_TEST_JOB, "preau_restore_test"))
FRESH_SIGNATURES: Final = 7 * 86400.0
# The nightly backup and the weekly restore test, with a day's slack.
FRESH_RUN: Final = {BACKUP_JOB: 2 * 86400.0, RESTORE_TEST_JOB: 8 * 86400.0}


async def storage_figures(core: Core, now: float) -> list[tuple[str, str, float]]:
    """Return the storage's rows for the site report, its CARMO conformity rows included."""
    section = core.config.section(ProductionsConfig)
    rows: list[tuple[str, str, float]] = [carmo_row("8.1", section.enabled)]
    used: dict[str, float] = {}
    near: dict[str, float] = {}
    warn = section.warn_percent[0] if section.warn_percent else None
    for _person, space, used_bytes, percent in await space_usage(core):
        used[space] = used.get(space, 0.0) + used_bytes
        near.setdefault(space, 0.0)
        if warn is not None and percent >= warn:
            near[space] += 1
    rows += [("preau_storage_used_bytes", f'space="{s}"', v) for s, v in sorted(used.items())]
    rows += [("preau_storage_near_quota", f'space="{s}"', v) for s, v in sorted(near.items())]
    age = None
    if section.antivirus.enabled:
        built = await core.executor.run(signatures_built_at, section.antivirus.database_dir)
        if built is not None:
            age = max(0.0, now - built)
            rows.append(("preau_antivirus_signatures_age_seconds", "", age))
    # A regularly updated antivirus (#8.12): signatures younger than a week.
    rows.append(carmo_row("8.12", age is not None and age < FRESH_SIGNATURES))
    fresh = {job: False for job, _prefix in JOB_FIGURES}
    if section.backup.enabled:
        runs = await backup_runs(core)
        for job, prefix in JOB_FIGURES:
            run = runs.get(job)
            failing = run is not None and bool(run["last_error"])
            # Failing: its last run ended in an error. No age: it never succeeded.
            rows.append((f"{prefix}_failing", "", float(failing)))
            if run is not None and run["last_success"]:
                success = dt.datetime.fromisoformat(str(run["last_success"])).timestamp()
                rows.append((f"{prefix}_age_seconds", "", max(0.0, now - success)))
                fresh[job] = not failing and now - success < FRESH_RUN[job]
    # Backed up (#7.15, #8.17) and a restore that is known to work (#8.18).
    rows.append(carmo_row("7.15", fresh[BACKUP_JOB]))
    rows.append(carmo_row("8.18", fresh[RESTORE_TEST_JOB]))
    return rows

"""The storage's scheduled jobs: leavers' erasure, nightly backup, weekly restore test."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.i18n import N_
from appliance.scheduler.jobs import JobContext, JobSpec
from storage.backup import BackupError, Backups
from storage.config import ProductionsConfig
from storage.store import ProductionsStore

if TYPE_CHECKING:
    from appliance.core import Core

BACKUP_JOB = "productions-backup"
RESTORE_TEST_JOB = "productions-restore-test"


async def _backup(context: JobContext) -> str:
    core = context.core
    backups = Backups(core.config.section(ProductionsConfig).backup, core.config.site.data_dir)
    snapshot = await core.executor.run(backups.back_up)
    return f"snapshot {snapshot.id}: {snapshot.files} files of the pedagogical spaces"


async def _restore_test(context: JobContext) -> str:
    core = context.core
    backups = Backups(core.config.section(ProductionsConfig).backup, core.config.site.data_dir)
    compared, mismatches = await core.executor.run(backups.verify_latest)
    if mismatches:
        raise BackupError(f"restore test: {mismatches} of {compared} files differ")
    return f"restore test: {compared} files identical"


async def _lifecycle(context: JobContext) -> str:
    store = context.core.shared(ProductionsStore)
    erased = await store.erase_departed()
    archives = await store.purge_class_archives()
    return f"{len(erased)} departed people's spaces and {archives} class archives erased"


def storage_jobs(core: Core) -> list[JobSpec]:
    """Return the erasure of leavers' spaces and, when configured, backup and its test."""
    section = core.config.section(ProductionsConfig)
    jobs: list[JobSpec] = []
    if section.enabled:
        jobs.append(
            JobSpec(
                "productions-lifecycle",
                N_("Effacement des espaces des partants"),
                "nightly",
                _lifecycle,
            )
        )
    if section.backup.enabled:
        jobs.append(
            JobSpec(BACKUP_JOB, N_("Sauvegarde des espaces pédagogiques"), "nightly", _backup)
        )
        jobs.append(JobSpec(RESTORE_TEST_JOB, N_("Test de restauration"), "weekly", _restore_test))
    return jobs

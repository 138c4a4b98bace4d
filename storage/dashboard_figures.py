"""The storage's part of the referent's dashboard: space used, backups, antivirus (#16).

Space used is a state (``storage_usage``, kept current by the spaces): the
kernel notes it nightly for the chart. Alerts say what puts the pupils' work
at risk: a backup that failed or is too old, a restore test that failed,
spaces nearly full, antivirus signatures older than a week.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from appliance.antivirus import signatures_built_at
from appliance.dashboard import Alert, Figure, Window
from appliance.i18n import N_
from storage.config import ProductionsConfig
from storage.dashboard import backup_runs, space_usage
from storage.jobs import BACKUP_JOB, RESTORE_TEST_JOB
from storage.site_figures import FRESH_RUN, FRESH_SIGNATURES

if TYPE_CHECKING:
    from appliance.core import Core

SPACE_PARTS = (("pedagogical", N_("pédagogique")), ("personnel", N_("PERSONNEL")))


async def storage_figures(core: Core, window: Window) -> list[Figure]:
    """Return the bytes used in the spaces (split by space) and the signatures' age."""
    section = core.config.section(ProductionsConfig)
    if not section.enabled:
        return []
    used: dict[str, float] = {}
    for _person, space, used_bytes, _percent in await space_usage(core):
        used[space] = used.get(space, 0.0) + used_bytes
    figures = [
        Figure(
            key="storage.used",
            label=N_("Espaces de travail utilisés"),
            link="/fichiers",
            today=sum(used.values()),
            unit="bytes",
            kept=True,
            parts=[(label, used.get(space, 0.0)) for space, label in SPACE_PARTS],
            caption=N_("octets utilisés, chaque nuit"),
        )
    ]
    if section.antivirus.enabled:
        built = await core.executor.run(signatures_built_at, section.antivirus.database_dir)
        figures.append(
            Figure(
                key="storage.antivirus",
                label=N_("Âge des signatures antivirus"),
                link="/dashboard#storage-title",
                today=None if built is None else max(0, int((window.now - built) // 86400)),
                unit="days",
                kept=True,
                caption=N_("âge en jours, chaque nuit"),
            )
        )
    return figures


def _age_days(iso: object, now: float) -> float | None:
    if not iso:
        return None
    return (now - dt.datetime.fromisoformat(str(iso)).timestamp()) / 86400


async def storage_alerts(core: Core, now: float) -> list[Alert]:
    """Return what puts the pupils' work at risk now."""
    section = core.config.section(ProductionsConfig)
    if not section.enabled:
        return []
    alerts: list[Alert] = []
    link = "/dashboard#storage-title"
    if not section.backup.enabled:
        alerts.append(
            Alert("warning", N_("Les espaces pédagogiques ne sont pas sauvegardés."), link)
        )
    else:
        runs = await backup_runs(core)
        for job, failed, stale in (
            (
                BACKUP_JOB,
                N_("La dernière sauvegarde des espaces a échoué."),
                N_("Aucune sauvegarde réussie depuis %(days)s jours."),
            ),
            (
                RESTORE_TEST_JOB,
                N_("Le dernier test de restauration a échoué."),
                N_("Aucun test de restauration réussi depuis %(days)s jours."),
            ),
        ):
            run = runs.get(job)
            if run is not None and run["last_error"]:
                alerts.append(Alert("error", failed, link))
                continue
            age = _age_days(run["last_success"] if run is not None else None, now)
            if age is not None and age * 86400 > FRESH_RUN[job]:
                alerts.append(Alert("error", stale, link, {"days": int(age)}))
    if section.warn_percent:
        near = sum(
            1 for *_rest, percent in await space_usage(core) if percent >= section.warn_percent[0]
        )
        if near:
            alerts.append(
                Alert(
                    "warning",
                    N_("Espaces presque pleins (plus de %(percent)s %%) : %(count)s."),
                    link,
                    {"percent": section.warn_percent[0], "count": near},
                )
            )
    if section.antivirus.enabled:
        built = await core.executor.run(signatures_built_at, section.antivirus.database_dir)
        if built is None or now - built > FRESH_SIGNATURES:
            alerts.append(
                Alert(
                    "warning",
                    N_("Les signatures de l'antivirus ont plus d'une semaine."),
                    link,
                )
            )
    return alerts

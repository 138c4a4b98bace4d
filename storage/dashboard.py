"""The storage's card on the referent's dashboard: backups, restore, spaces near full."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from aiohttp import web

from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY
from appliance.web.rendering import local_time, request_gettext, say
from storage.backup import BackupError, Backups
from storage.config import ProductionsConfig
from storage.jobs import BACKUP_JOB, RESTORE_TEST_JOB
from storage.personnel import SpaceError
from storage.store import quota_bytes

if TYPE_CHECKING:
    from appliance.core import Core

routes = web.RouteTableDef()


async def space_usage(core: Core) -> list[tuple[str, str, int, float]]:
    """Return each (person, space, bytes used, per cent of their quota)."""
    section = core.config.section(ProductionsConfig)
    rows = await core.db.fetchall(
        "SELECT u.user, u.space, u.bytes, COALESCE(p.role, 'pupil') AS role"
        " FROM storage_usage u LEFT JOIN people p ON p.id = u.user"
    )
    return [
        (
            str(row["user"]),
            str(row["space"]),
            int(row["bytes"]),
            100 * row["bytes"] / quota_bytes(section, row["role"], row["space"]),
        )
        for row in rows
    ]


async def backup_runs(core: Core) -> dict[str, Any]:
    """Return the last run of the backup and of the restore test, by job id."""
    return {
        row["job_id"]: row
        for row in await core.db.fetchall(
            "SELECT job_id, last_success, last_error FROM job_runs WHERE job_id IN (?, ?)",
            (BACKUP_JOB, RESTORE_TEST_JOB),
        )
    }


async def storage_panel(core: Core) -> dict[str, Any]:
    """Backups' last results and the spaces past a threshold (no names of files)."""
    section = core.config.section(ProductionsConfig)
    runs = await backup_runs(core)
    warn = section.warn_percent
    over = [
        {"user": user, "space": space, "percent": round(percent)}
        for user, space, _used, percent in await space_usage(core)
        if warn and percent >= warn[0]
    ]
    return {
        "backup_enabled": section.backup.enabled,
        "backup": _job_state(core, runs.get(BACKUP_JOB)),
        "restore_test": _job_state(core, runs.get(RESTORE_TEST_JOB)),
        "over": sorted(over, key=lambda o: -o["percent"]),
    }


def _job_state(core: Core, row: Any) -> dict[str, str]:
    if row is None:
        return {"success": "", "error": ""}
    return {"success": local_time(core, row["last_success"]), "error": row["last_error"] or ""}


@routes.post("/dashboard/restore")
@require_role("referent")
async def restore_form(request: web.Request) -> web.StreamResponse:
    """Put back a person's pedagogical space, or one file or folder, from the last backup."""
    core = request.app[CORE_KEY]
    section = core.config.section(ProductionsConfig)
    form = await request.post()
    person = str(form.get("person", "")).strip()
    path = str(form.get("path", "")).strip()
    _ = request_gettext(request)
    if not section.backup.enabled:
        message = _("Sauvegarde non configurée ([productions.backup]).")
    else:
        backups = Backups(section.backup, core.config.site.data_dir)
        try:
            count = await core.executor.run(backups.restore, person, path)
            message = _("%(count)s fichier(s) restauré(s).", count=count)
            outcome = "success"
        except (BackupError, SpaceError) as err:
            message = _("Restauration impossible : %(reason)s", reason=say(request, err)[:200])
            outcome = "failure"
        await core.audit.record(
            actor=actor_of(request),
            source=source_of(request),
            action="backup.restore",
            target=f"{person}:{path}",
            outcome=outcome,
        )
    raise web.HTTPSeeOther("/dashboard?" + urllib.parse.urlencode({"restauration": message}))

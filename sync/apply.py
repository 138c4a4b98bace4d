"""Apply the centre's policy: whole, checked, and undone if the box stops working.

1. The merged policy (:func:`sync.policy.merge`) must validate with the local
   file as a whole config; if not, it is refused and the box keeps its last
   good policy (the alert names the key).
2. The overlay is written atomically and the ``config.overlay`` topic makes
   every process start its services again on the new config
   (:mod:`appliance.config_overlay`). The apply is recorded as *pending*
   with the overlay it replaced.
3. The health check: every enabled service must report, after the apply,
   something other than "down" within ``apply_check_seconds``. Then the
   policy is in force. Otherwise the previous overlay is put back, the
   processes restart on it, and that policy's digest is never applied again
   (a new publication is needed): no retry loop (Fleet's complaint).
"""

from __future__ import annotations

import logging
import time
import tomllib
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from appliance.config import build_config
from appliance.config_overlay import (
    OVERLAY_TOPIC,
    confirm_overlay,
    deep_update,
    overlay_digest,
    revert_overlay,
    write_overlay,
)
from appliance.i18n import N_
from appliance.site_status import services_status
from sync.state import LinkState, write_link

if TYPE_CHECKING:
    from appliance.core import Core
    from sync.policy import MergedPolicy

_LOGGER = logging.getLogger(__name__)


def read_local(core: Core) -> dict[str, Any]:
    """Return the local file's values (what the referent set), {} without a file."""
    path = core.config_path
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def refusal(policy: MergedPolicy, local: dict[str, Any]) -> str:
    """Return why the merged config does not validate ("" when it does)."""
    try:
        build_config(deep_update(local, policy.overlay))
    except ValidationError as err:
        return "; ".join(".".join(str(part) for part in problem["loc"]) for problem in err.errors())
    return ""


async def start_apply(core: Core, link: LinkState, policy: MergedPolicy, version: int) -> None:
    """Write the new overlay and record the apply as pending (processes restart)."""
    local = await core.executor.run(read_local, core)
    refused = refusal(policy, local)
    if refused:
        link.refused_digests = [*link.refused_digests[-19:], policy.digest]
        link.policy_problem = N_("politique du centre refusée : clé %(key)s invalide")
        link.policy_problem_values = {"key": refused}
        await write_link(core.db, link)
        return
    data_dir = core.config.site.data_dir
    written = await core.executor.run(write_overlay, data_dir, policy.overlay, policy.locked)
    link.pending = {
        "digest": policy.digest,
        "version": version,
        "origins": list(policy.bundles),
        "settings": [asdict(setting) for setting in policy.settings],
        "overlay": written,
        "since": time.time(),
    }
    await write_link(core.db, link)
    async with core.db.write() as tx:
        await tx.notify(OVERLAY_TOPIC)
    _LOGGER.info("Central policy %s (version %s) written; services restart", policy.digest, version)


async def check_pending(core: Core, link: LinkState, wait_seconds: float) -> bool:
    """Settle a pending apply: in force when healthy, undone when not; return True if settled."""
    pending = link.pending
    if not pending:
        return True
    since = float(pending["since"])
    data_dir = core.config.site.data_dir
    if await core.executor.run(overlay_digest, data_dir) != pending["overlay"]:
        # `preau run` undid it: the services could not even start on it.
        await _refuse(core, link, ["preau run"])
        return True
    statuses = await services_status(core)
    fresh = [s for s in statuses if s.updated_at is not None and s.updated_at > since]
    failing = [s.name for s in statuses if s.status in ("down", "stopped")]
    if len(fresh) == len(statuses) and not failing:
        await core.executor.run(confirm_overlay, data_dir)
        link.policy_digest = str(pending["digest"])
        link.policy_version = int(pending["version"])
        link.policy_origins = [str(o) for o in pending["origins"]]
        link.policy_settings = list(pending.get("settings", []))
        link.policy_applied_at = time.time()
        link.pending = {}
        link.policy_problem, link.policy_problem_values = "", {}
        await write_link(core.db, link)
        await core.audit.record(
            actor="centre", source="sync", action="sync.policy.apply", outcome="success",
            target=str(link.policy_version),
        )  # fmt: skip
        return True
    if time.time() - since < wait_seconds:
        return False
    # The box got worse: put the previous overlay back and never retry this one.
    await core.executor.run(revert_overlay, data_dir)
    await _refuse(core, link, failing or [s.name for s in statuses if s not in fresh])
    return True


async def _refuse(core: Core, link: LinkState, services: list[str]) -> None:
    """Record that the pending policy was undone, and restart every process on the old one."""
    pending = link.pending
    link.refused_digests = [*link.refused_digests[-19:], str(pending["digest"])]
    link.policy_problem = N_(
        "politique du centre annulée : service %(service)s en panne après l'application"
    )
    link.policy_problem_values = {"service": ", ".join(services)}
    link.pending = {}
    await write_link(core.db, link)
    async with core.db.write() as tx:
        await tx.notify(OVERLAY_TOPIC)
    await core.audit.record(
        actor="centre", source="sync", action="sync.policy.apply", outcome="failure",
        target=str(pending["version"]), detail=", ".join(services),
    )  # fmt: skip
    _LOGGER.warning("Central policy %s undone: %s", pending["digest"], services)

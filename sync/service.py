"""The sync service: poll the centre, apply its policy, send the site's reports.

One supervised loop (a failure is logged and retried at the next turn, never
fatal):

1. learn the time from the centre (:meth:`sync.link.Link.sync_time`); until
   then no expiry is judged and the last good policy stays;
2. read the signed repository (:func:`sync.trust.fetch_policy`, in the
   executor); a refusal (replayed, wrongly signed, expired, unreachable)
   keeps the last good policy and raises ``preau_sync_policy_stale``;
3. merge this site's bundles with the local file and apply when the result
   changed (:mod:`sync.apply`);
4. put a site report in the spool every ``report_minutes`` and send the
   spool oldest first; the centre acknowledges each report's key;
5. wait ``poll_minutes`` ± ``jitter_percent`` (drawn per box, so 500 boxes
   spread evenly), long-polling the centre meanwhile for a publication.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import shutil
import time
from collections.abc import Callable
from importlib import metadata
from typing import TYPE_CHECKING, Final

import aiohttp

from appliance import central_outbox
from appliance.i18n import N_
from appliance.problems import problem_of
from appliance.published import publish_metrics, published_rows
from appliance.service import Health, Service
from appliance.site_status import kernel_conformity, read_host_figures, services_status
from appstore.central import held_sha256
from sync.apply import check_pending, read_local, start_apply
from sync.central_apps import keep_apps
from sync.config import SyncConfig
from sync.credentials import CredentialError
from sync.link import Link, LinkError, RevokedError
from sync.policy import merge
from sync.pra import restore_if_released
from sync.report import Host, LinkFigures, ServiceState, SiteReport, safe_figures
from sync.state import (
    CHECK_TOPIC,
    LinkState,
    SpoolBounds,
    read_link,
    spool_acknowledge,
    spool_batch,
    spool_put,
    spool_size,
    write_link,
)
from sync.telemetry import REMOTE_WRITE_HEADERS, remote_write_body
from sync.trust import PolicyFetchError, fetch_policy, read_json

if TYPE_CHECKING:
    from appliance.core import Core

_LOGGER = logging.getLogger(__name__)

IDLE_SECONDS: Final = 30.0


def jittered(mean: float, jitter_percent: int, draw: random.Random) -> float:
    """Return one wait: ``mean`` ± ``jitter_percent``, uniformly."""
    share = jitter_percent / 100
    return mean * draw.uniform(1 - share, 1 + share)


class SyncService(Service):
    """Keep the box in step with its centre."""

    name = "sync"

    def __init__(self, core: Core, clock: Callable[[], float] = time.time) -> None:
        """Prepare the loop; nothing is opened before setup (``clock``: the tests' own)."""
        super().__init__(core)
        self.clock = clock
        self._spool_cap = 0
        self.config = core.config.section(SyncConfig)
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._draw = random.Random()
        self._link: Link | None = None
        self._last_report = 0.0

    async def async_setup(self) -> None:
        """Open the HTTP client."""
        timeout = aiohttp.ClientTimeout(total=self.config.request_timeout_seconds)
        self._session = aiohttp.ClientSession(timeout=timeout)
        self._link = Link(self.core, self._session, self.clock)
        await self._link.load_floor()
        data_dir = self.core.config.site.data_dir
        disk = await self.core.executor.run(
            shutil.disk_usage, data_dir if data_dir.exists() else "/"
        )
        self._spool_cap = min(self.config.spool_max_kib * 1024, disk.total // 20)
        self.core.changes.subscribe(CHECK_TOPIC, self._check_asked)

    @property
    def link(self) -> Link:
        """Return the link (opened by setup)."""
        if self._link is None:
            raise RuntimeError("sync service used before its setup")
        return self._link

    async def _check_asked(self, topic: str) -> None:
        self._wake.set()

    async def async_start(self) -> None:
        """Start the loop."""
        self._task = asyncio.create_task(self._run_forever(), name="preau-sync")

    async def async_stop(self) -> None:
        """Stop the loop and close the client."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def async_health(self) -> Health:
        """Say whether the link works and which policy is in force."""
        link = await read_link(self.core.db)
        await self._publish(link)
        if not link.enrolled:
            return Health("ok", N_("non inscrit auprès d'un centre"))
        if link.revoked:
            return Health("down", N_("boîtier révoqué par le centre"))
        if link.pending:
            return Health("degraded", N_("politique en cours d'application"))
        if link.policy_problem:
            return Health("degraded", link.policy_problem, link.policy_problem_values)
        if link.policy_stale:
            return Health(
                "degraded",
                N_("politique du centre non vérifiée : la version %(version)s reste en place"),
                {"version": link.policy_version},
            )
        return Health(
            "ok", N_("politique du centre version %(version)s"), {"version": link.policy_version}
        )

    async def _publish(self, link: LinkState) -> None:
        """Publish the link's figures for /metrics."""
        reports, size = await spool_size(self.core.db)
        values = [
            ("preau_sync_enrolled", "", float(link.enrolled)),
            ("preau_sync_revoked", "", float(link.revoked)),
            ("preau_sync_policy_stale", "", float(link.policy_stale)),
            ("preau_sync_policy_version", "", float(link.policy_version)),
            ("preau_sync_time_trusted", "", float(link.time_trusted)),
            ("preau_sync_last_exchange_seconds", "", link.last_exchange_at),
            ("preau_sync_spool_reports", "", float(reports)),
            ("preau_sync_spool_bytes", "", float(size)),
            ("preau_sync_spool_dropped_total", "", float(link.spool_dropped_total)),
            ("preau_sync_reports_sent_total", "", float(link.sent_total)),
        ]
        # Written only when new or due for a refresh (publish_metrics decides).
        await publish_metrics(self.core, self.name, values)

    # -- the loop -------------------------------------------------------------

    async def _run_forever(self) -> None:
        while True:
            wait = IDLE_SECONDS
            try:
                wait = await self.turn()
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.exception("Sync turn failed; trying again later")
            await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``; return early on a "check now" or a publication of the centre."""
        deadline = time.monotonic() + seconds
        link = await read_link(self.core.db)
        long_poll = self.config.long_poll and link.enrolled and not link.revoked
        while (left := deadline - time.monotonic()) > 0:
            wake = asyncio.create_task(self._wake.wait())
            other = asyncio.create_task(
                self._published(link, min(left, 50.0)) if long_poll else asyncio.sleep(left)
            )
            try:
                done, _ = await asyncio.wait(
                    (wake, other), timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for task in (wake, other):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, LinkError):
                        await task
            if wake in done or (other in done and not other.cancelled() and other.result()):
                self._wake.clear()
                return

    async def _published(self, link: LinkState, seconds: float) -> bool:
        """Long-poll the centre; say whether it published something this box has not read."""
        known = await self.core.executor.run(self._known_version)
        try:
            return await self.link.wait_for_publication(link, known, seconds) > known
        except LinkError:
            # The centre is unreachable: wait instead of asking again at once.
            await asyncio.sleep(min(seconds, IDLE_SECONDS))
            return False

    def _known_version(self) -> int:
        data = read_json(self.link.paths.metadata / "timestamp.json")
        return int(data["signed"]["version"]) if data else 0

    async def turn(self) -> float:
        """Do one exchange with the centre; return how long to wait before the next."""
        link = await read_link(self.core.db)
        if not link.enrolled or link.revoked:
            return IDLE_SECONDS
        settled = await check_pending(self.core, link, self.config.apply_check_seconds)
        if not settled:
            return 2.0
        try:
            try:
                await self.link.sync_time(link)
                link.time_trusted = True
            finally:
                # Offline too: the report waits in the spool (once the time is known).
                await self._report_if_due(link)
            await self._read_policy(link)
            await self._send_spool(link)
            await self._send_outbox(link)
            if await restore_if_released(self.core, self.link, link):
                link.last_exchange_at = self.link.now()
                await write_link(self.core.db, link)
                return IDLE_SECONDS  # every process restarts on the restored state
            link.last_exchange_at = self.link.now()
            if not link.policy_stale:
                link.last_error, link.last_error_values = "", {}
        except RevokedError:
            link.revoked = True
            link.last_error, link.last_error_values = N_("le centre a révoqué ce boîtier"), {}
        except (LinkError, CredentialError, PolicyFetchError) as err:
            # CredentialError: a signed time the trusted roots do not vouch for.
            problem = problem_of(err)
            link.last_error, link.last_error_values = problem.message, dict(problem.values)
            if self.link.offset is None:
                link.time_trusted = False
        latest = await read_link(self.core.db)
        link.pending = latest.pending or link.pending
        await write_link(self.core.db, link)
        return jittered(self.config.poll_minutes * 60, self.config.jitter_percent, self._draw)

    async def _read_policy(self, link: LinkState) -> None:
        paths = self.link.paths
        reference = self.link.now()
        held = await held_sha256(self.core)
        try:
            view = await self.core.executor.run(
                fetch_policy,
                paths.metadata,
                paths.targets,
                link.repository,
                link.uai,
                dt.datetime.fromtimestamp(reference, dt.UTC),
                held,
            )
        except PolicyFetchError as err:
            problem = problem_of(err)
            link.policy_stale = True
            link.last_error, link.last_error_values = problem.message, dict(problem.values)
            _LOGGER.warning("Central policy not refreshed: %s", err)
            return
        link.policy_stale = False
        link.pra_recipient = view.pra_recipient
        if link.box_id in view.revoked:
            link.revoked = True
            return
        local = await self.core.executor.run(read_local, self.core)
        merged = merge(list(view.bundles.values()), local)
        await keep_apps(self.core, link, merged, view.app_files)
        if merged.digest == link.policy_digest:
            link.policy_version = view.version
            return
        if merged.digest in link.refused_digests:
            return
        await start_apply(self.core, link, merged, view.version)

    # -- reports ----------------------------------------------------------------

    async def _report_if_due(self, link: LinkState) -> None:
        if not self.link.time_trusted and not self.link.floor:
            return  # a new box in 1970: its reports would carry a false time
        now = self.link.now()
        if now - self._last_report < self.config.report_minutes * 60:
            return
        self._last_report = now
        report = (await site_report(self.core, link, now)).model_dump_json(by_alias=True)
        bounds = SpoolBounds(self._spool_cap, self.config.spool_max_days * 86400.0)
        dropped = await spool_put(self.core.db, report, now, bounds)
        link.spool_dropped_total += dropped

    async def _remote_write(self, reports: list[SiteReport]) -> None:
        """Push the reports' samples to the configured remote_write receiver."""
        session = self._session
        if session is None:
            raise LinkError(N_("centre injoignable : %(error)s"), error="no session")
        url = self.config.telemetry.remote_write_url
        try:
            async with session.post(
                url, data=remote_write_body(reports), headers=REMOTE_WRITE_HEADERS
            ) as response:
                if response.status // 100 != 2:
                    reason = (await response.text())[:200]
                    raise LinkError(
                        N_("le récepteur remote_write a refusé (%(status)s) : %(reason)s"),
                        status=response.status,
                        reason=reason,
                    )
        except aiohttp.ClientError as err:
            raise LinkError(
                N_("récepteur remote_write injoignable : %(error)s"), error=str(err)
            ) from err

    async def _send_outbox(self, link: LinkState) -> None:
        """Send the features' messages for the central team; forget each acknowledged one."""
        while batch := await central_outbox.waiting(self.core.db):
            for message in batch:
                message["key"] = f"{link.box_id}:{message.pop('id')}"
            body = json.dumps(batch, ensure_ascii=False, separators=(",", ":")).encode()
            answer = await self.link.signed_post(link, "messages", body)
            acknowledged = {str(key) for key in answer.get("accepted", [])}
            if acknowledged != {message["key"] for message in batch}:
                raise LinkError(N_("le centre n'a pas accusé réception de tous les messages"))
            await central_outbox.acknowledged(
                self.core.db, [int(m["key"].rsplit(":", 1)[1]) for m in batch]
            )

    async def _send_spool(self, link: LinkState) -> None:
        """Send the spool oldest first until it is empty; each batch is acknowledged."""
        while batch := await spool_batch(self.core.db, self.config.batch_kib * 1024):
            reports = []
            for seq, payload in batch:
                report = json.loads(payload)
                report["key"] = f"{link.box_id}:{seq}"
                reports.append(report)
            body = json.dumps(reports, separators=(",", ":")).encode()
            if self.config.telemetry.remote_write_url:
                await self._remote_write([SiteReport.model_validate(r) for r in reports])
            answer = await self.link.signed_post(link, "reports", body)
            acknowledged = {str(key) for key in answer.get("accepted", [])}
            if acknowledged != {report["key"] for report in reports}:
                raise LinkError(N_("le centre n'a pas accusé réception de tous les rapports"))
            await spool_acknowledge(self.core.db, batch[-1][0])
            link.sent_total += len(batch)


async def site_report(core: Core, link: LinkState, now: float) -> SiteReport:
    """Return one site report (schema ``preau.site-report/1``), its key left empty."""
    host = await core.executor.run(read_host_figures, core.config.site.data_dir)
    statuses = await services_status(core)
    rows = await published_rows(core)
    rows.extend(kernel_conformity(core.config))
    for feature in core.features:
        if feature.site_figures is None:
            continue
        try:
            rows.extend(await feature.site_figures(core, now))
        except Exception:  # one feature's fault costs its figures, not the report
            _LOGGER.exception("Site figures of %s left out of the report", feature.name)
    logins = {str(row["id"]) for row in await core.db.fetchall("SELECT id FROM people")}
    _count, size = await spool_size(core.db)
    return SiteReport(
        key="",
        uai=link.uai,
        generated_at=now,
        version=metadata.version("preau"),
        host=Host(
            disk_used_percent=host.disk_percent,
            memory_used_percent=host.memory_percent,
            uptime_seconds=max(0.0, now - host.boot_time),
        ),
        services=[ServiceState(name=s.name, status=s.status) for s in statuses],
        link=LinkFigures(
            policy_version=link.policy_version,
            policy_stale=link.policy_stale,
            spool_bytes=size,
            spool_dropped_total=link.spool_dropped_total,
        ),
        figures=safe_figures(rows, logins),
    )

"""Replacing a dead box in an hour (the seeds' "PRA", #14 scope 9), box side.

Like EOLE Zéphir's saved configurations, but the centre's servers cannot read them:

- **Every night** (job ``sync-pra-backup``, or ``preau sync backup``) the box
  packs its local config file, the rows of the tables each feature declares
  (:class:`appliance.features.Replacement`: the accounts cache, roles,
  classes and subgroups, timetables, closed days, class controls and local
  allow-lists, charters and their acceptances, the app store and its files,
  class areas' metadata, pre-staging lists) and encrypts them with age to the
  collectivité's **offline** key. Its recipient comes from the signed fleet
  file (``preau-central pra-key``), so a forged one is refused like any
  target. Never in it, because no feature declares them: password hashes,
  web and portal sessions, PERSONNEL's keys and escrow, retrieval codes,
  vouchers, logs and usage, the link's own keys.
- **A new box** enrolled for the same UAI asks for the restore (the referent's
  button on « Lien avec le centre », or ``preau sync restore``): it makes its
  own age key pair and sends the public half, signed. The central team runs
  ``preau-central pra-release BOX --key pra.age``, which decrypts the school's
  latest backup with the offline key and encrypts it again to the new box.
- **At its next turn** the sync service fetches it and restores
  (:func:`restore`): every check first (:func:`sync.pra_archive.open_backup`,
  then schema and columns), files under temporary names then renamed, all
  rows in one transaction (added or updated by primary key: nothing the new
  box has, such as its referent's account, is deleted), the config file
  atomically if it validates and names the same data folder (else it is kept
  beside it and the page says why), then every process restarts on the
  restored state (:data:`appliance.core.RESTART_TOPIC`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from appliance.agefile import generate_identity, recipient_of
from appliance.atomic import fsync_directory, write_atomic
from appliance.config import ConfigError, parse_config
from appliance.core import RESTART_TOPIC
from appliance.features import KERNEL_REPLACEMENT
from appliance.i18n import N_
from appliance.problems import problem_of
from sync.config import SyncConfig
from sync.link import Link, LinkError, SyncPaths
from sync.pra_archive import BackupContent, OpenedBackup, PraError, open_backup, write_backup
from sync.state import LinkState, read_link

if TYPE_CHECKING:
    from appliance.core import Core

_LOGGER = logging.getLogger(__name__)

BACKUP_JOB: Final = "sync-pra-backup"
# The intake refuses more (and nginx's client_max_body_size says the same).
MAX_BACKUP_BYTES: Final = 256 * 1024 * 1024
# The restored config is not written when it moves these: the new box's disk layout wins.
MACHINE_KEYS: Final = (("site", "data_dir"), ("state", "path"))


@dataclass(slots=True)
class PraState:
    """The last backup sent and a restore in progress, as the referent's page shows them."""

    backup_at: float = 0.0
    backup_bytes: int = 0
    restore_requested_at: float = 0.0
    restored_at: float = 0.0
    # What the last restore did or why it failed (a message id and its values).
    restore_outcome: str = ""
    restore_values: dict[str, Any] | None = None


async def read_pra(core: Core) -> PraState:
    """Return the replacement backup's state."""
    row = await core.db.fetchone("SELECT * FROM sync_pra WHERE id = 1")
    if row is None:
        return PraState()
    return PraState(
        backup_at=float(row["backup_at"]),
        backup_bytes=int(row["backup_bytes"]),
        restore_requested_at=float(row["restore_requested_at"]),
        restored_at=float(row["restored_at"]),
        restore_outcome=str(row["restore_outcome"]),
        restore_values=json.loads(row["restore_values"]),
    )


_UPSERT_PRA: Final = (
    "INSERT INTO sync_pra (id, {cols}) VALUES (1, {marks}) ON CONFLICT (id) DO UPDATE SET {sets}"
)


def _pra_upsert(values: dict[str, Any]) -> tuple[str, list[Any]]:
    """Return the statement writing only ``values``' columns of the one row."""
    names = sorted(values)
    sql = _UPSERT_PRA.format(
        cols=", ".join(names),
        marks=", ".join("?" for _ in names),
        sets=", ".join(f"{name} = excluded.{name}" for name in names),
    )
    params = [json.dumps(values[n]) if n == "restore_values" else values[n] for n in names]
    return sql, params


async def _update_pra(core: Core, **values: Any) -> None:
    async with core.db.write() as tx:
        await tx.execute(*_pra_upsert(values))


def replacement_tables(core: Core) -> list[str]:
    """Return the tables a replacement gets back: the kernel's, then each feature's."""
    tables = list(KERNEL_REPLACEMENT.tables)
    for feature in core.features:
        if feature.replacement is not None:
            tables.extend(feature.replacement.tables)
    return tables


def replacement_folders(core: Core) -> dict[str, Path]:
    """Return each feature's declared folder."""
    return {
        feature.name: feature.replacement.folder(core)
        for feature in core.features
        if feature.replacement is not None and feature.replacement.folder is not None
    }


# -- the nightly backup ------------------------------------------------------------


def _client(core: Core) -> aiohttp.ClientSession:
    """Return a client for one exchange that may carry a whole backup."""
    seconds = core.config.section(SyncConfig).request_timeout_seconds * 30
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds))


async def back_up(core: Core) -> str:
    """Send the centre this box's replacement backup now; return what was sent."""
    async with _client(core) as session:
        return await _back_up(core, session)


async def _back_up(core: Core, session: aiohttp.ClientSession) -> str:
    link_state = await read_link(core.db)
    if not link_state.enrolled:
        raise LinkError(N_("ce boîtier n'est inscrit auprès d'aucun centre"))
    if not link_state.pra_recipient:
        raise PraError(N_("le centre n'a pas publié de clé de sauvegarde (preau-central pra-key)"))
    link = Link(core, session)
    await link.load_floor()
    await link.sync_time(link_state)
    now = link.now()
    content = BackupContent(
        uai=link_state.uai,
        box_id=link_state.box_id,
        created_at=now,
        config_path=core.config_path,
        folders=replacement_folders(core),
    )
    paths = SyncPaths.of(core)
    archive = paths.root / "backup.age"
    try:
        size = await core.executor.run(
            _write_archive,
            core.config.state_path,
            replacement_tables(core),
            content,
            link_state.pra_recipient,
            archive,
        )
        answer = await link.signed_post(link_state, "pra", archive, "application/octet-stream")
    finally:
        await core.executor.run(archive.unlink, True)
    await _update_pra(core, backup_at=now, backup_bytes=size)
    await core.audit.record(
        actor="system", source="scheduler", action="sync.pra.backup", outcome="success",
        target=str(answer.get("stored", "")), detail=f"{size} octets",
    )  # fmt: skip
    return f"replacement backup sent: {size} bytes"


def _write_archive(
    db_path: Path, tables: Sequence[str], content: BackupContent, recipient: str, out: Path
) -> int:
    """Write the archive to ``out`` (private, streamed to the centre); return its size."""
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as sink:
        write_backup(db_path, tables, content, recipient, sink)
        size = sink.tell()
    if size > MAX_BACKUP_BYTES:
        raise PraError(
            N_("sauvegarde de remplacement trop grande : %(size)s octets (au plus %(max)s)"),
            size=size,
            max=MAX_BACKUP_BYTES,
        )
    return size


# -- asking for a restore ------------------------------------------------------------


async def request_restore(core: Core, actor: str, source: str) -> None:
    """Make this box's restore key and ask the centre for the school's latest backup."""
    async with _client(core) as session:
        await _request_restore(core, session, actor, source)


async def _request_restore(
    core: Core, session: aiohttp.ClientSession, actor: str, source: str
) -> None:
    link_state = await read_link(core.db)
    if not link_state.enrolled:
        raise LinkError(N_("ce boîtier n'est inscrit auprès d'aucun centre"))
    paths = SyncPaths.of(core)
    identity = await core.executor.run(_restore_identity, paths.restore_key)
    recipient = recipient_of(identity)
    link = Link(core, session)
    await link.load_floor()
    await link.sync_time(link_state)
    body = json.dumps({"recipient": recipient}).encode()
    await link.signed_post(link_state, "pra/request", body)
    await _update_pra(
        core, restore_requested_at=link.now(), restore_outcome="",
        restore_values={},
    )  # fmt: skip
    await core.audit.record(
        actor=actor, source=source, action="sync.pra.request", outcome="success",
        target=link_state.box_id,
    )  # fmt: skip


def _restore_identity(path: Path) -> str:
    """Return the box's restore key, made once (the private half never leaves the box)."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="ascii").strip()
    identity = generate_identity()
    write_atomic(path, identity + "\n", mode=0o600)
    return identity


# -- restoring ---------------------------------------------------------------------


async def restore_if_released(core: Core, link: Link, link_state: LinkState) -> bool:
    """Fetch and restore the released backup when a restore is asked; say whether one ran."""
    state = await read_pra(core)
    if not state.restore_requested_at or state.restored_at >= state.restore_requested_at:
        return False
    paths = SyncPaths.of(core)
    if not await link.signed_download(link_state, "pra/release", paths.released):
        return False  # the central team has not released it yet
    try:
        summary = await restore(core, paths.released, link.now())
    except PraError as err:
        await core.executor.run(paths.released.unlink, True)
        problem = problem_of(err)
        await _update_pra(
            core, restored_at=link.now(), restore_outcome=problem.message,
            restore_values=dict(problem.values),
        )  # fmt: skip
        await core.audit.record(
            actor="system", source="sync", action="sync.pra.restore", outcome="failure",
            target=link_state.box_id, detail=str(err),
        )  # fmt: skip
        return True
    # Restored: no second copy of the school's data stays in the link's folder.
    await core.executor.run(paths.released.unlink, True)
    await core.audit.record(
        actor="system", source="sync", action="sync.pra.restore", outcome="success",
        target=link_state.box_id, detail=json.dumps(summary, ensure_ascii=False),
    )  # fmt: skip
    async with core.db.write() as tx:
        await tx.notify(RESTART_TOPIC)
    return True


async def restore(core: Core, encrypted: Path, now: float) -> dict[str, Any]:
    """Check and restore a released archive; return what came back."""
    paths = SyncPaths.of(core)
    identity = await core.executor.run(_restore_identity, paths.restore_key)
    work = paths.root / "restore"
    opened = await core.executor.run(open_backup, identity, encrypted, work)
    try:
        plan = await _plan_rows(core, opened)
        folders = replacement_folders(core)
        files = await core.executor.run(_put_files, opened, folders)
        config = await core.executor.run(_config_plan, core, opened.config_text)
        counts: dict[str, int] = {}
        current = "?"
        try:
            async with core.db.write() as tx:
                for current, sql, rows in plan:
                    await tx.executemany(sql, rows)
                    counts[current] = len(rows)
                outcome, values = config
                summary: dict[str, Any] = {"rows": sum(counts.values()), "files": files}
                done = {"restored_at": now, "restore_outcome": outcome}
                await tx.execute(*_pra_upsert({**done, "restore_values": {**values, **summary}}))
        except sqlite3.IntegrityError as err:
            # A row the new box already holds under another key (a unique name): nothing is kept.
            raise PraError(
                N_("sauvegarde refusée : %(table)s : %(error)s"),
                table=current, error=str(err),
            ) from err  # fmt: skip
        if outcome == CONFIG_RESTORED and core.config_path is not None and opened.config_text:
            await core.executor.run(write_atomic, core.config_path, opened.config_text, mode=0o640)
        elif core.config_path is not None and opened.config_text:
            await core.executor.run(
                write_atomic, _aside(core.config_path), opened.config_text, mode=0o600
            )
        return {**summary, "tables": counts}
    finally:
        await core.executor.run(shutil.rmtree, work, True)


CONFIG_RESTORED: Final = N_(
    "restauration faite : %(rows)s lignes, %(files)s fichiers et la configuration de l'ancien"
    " boîtier"
)
CONFIG_KEPT: Final = N_(
    "restauration faite : %(rows)s lignes et %(files)s fichiers ; configuration de l'ancien"
    " boîtier non appliquée (%(reason)s), gardée dans %(path)s"
)


def _aside(config_path: Path) -> Path:
    """Return where the old box's config is kept when it does not replace this one."""
    return config_path.with_name(config_path.stem + ".restored.toml")


def _config_plan(core: Core, text: str | None) -> tuple[str, dict[str, Any]]:
    """Say whether the old box's config file replaces this one's, and if not why."""
    if text is None or core.config_path is None:
        return CONFIG_KEPT, {"reason": "aucun fichier", "path": "-"}
    aside = str(_aside(core.config_path))
    try:
        old = parse_config(text, "config.toml")
    except ConfigError as err:
        return CONFIG_KEPT, {"reason": str(err)[:300], "path": aside}
    for section, key in MACHINE_KEYS:
        before = getattr(getattr(old, section), key)
        now = getattr(getattr(core.config, section), key)
        if before != now:
            return CONFIG_KEPT, {"reason": f"{section}.{key} : {before} ≠ {now}", "path": aside}
    return CONFIG_RESTORED, {}


async def _plan_rows(core: Core, opened: OpenedBackup) -> list[tuple[str, str, list[Any]]]:
    """Return one checked upsert per table, in the declared order (parents first)."""
    schema = int(opened.manifest.get("schema_version", 0))
    if schema > await core.db.version():
        raise PraError(
            N_("sauvegarde d'une version plus récente de Préau (schéma %(version)s) : mettez à"
               " jour ce boîtier d'abord"),
            version=schema,
        )  # fmt: skip
    declared = replacement_tables(core)
    unknown = sorted(set(opened.state) - set(declared))
    if unknown:
        raise PraError(N_("sauvegarde refusée : table %(table)s non prévue"), table=unknown[0])
    plan = []
    for table in declared:
        part = opened.state.get(table)
        if part is None:
            continue
        info = await core.db.fetchall(f'PRAGMA table_info("{table}")')
        existing = {str(row["name"]) for row in info}
        keys = [str(row["name"]) for row in sorted(info, key=lambda r: int(r["pk"])) if row["pk"]]
        columns = [str(c) for c in part["columns"]]
        strange = [c for c in columns if c not in existing]
        if strange or not keys or not set(keys) <= set(columns):
            raise PraError(
                N_("sauvegarde refusée : colonne %(column)s de %(table)s"),
                column=(strange or keys or ["?"])[0], table=table,
            )  # fmt: skip
        names = ", ".join(f'"{c}"' for c in columns)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in keys)
        conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        conflict_keys = ", ".join(f'"{k}"' for k in keys)
        # Names checked above against the declared tables and SQLite's columns.
        sql = (
            f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" for _ in columns)})'  # noqa: S608
            f" ON CONFLICT ({conflict_keys}) {conflict}"
        )
        plan.append((table, sql, part["rows"]))
    return plan


def _put_files(opened: OpenedBackup, folders: dict[str, Path]) -> int:
    """Move the archive's files into their features' folders (each rename whole)."""
    moved = 0
    for (feature, name), source in sorted(opened.files.items()):
        folder = folders.get(feature)
        if folder is None:
            continue  # a feature this box does not run
        folder.mkdir(parents=True, exist_ok=True, mode=0o750)
        temp = folder / f".restore-{secrets.token_hex(8)}"
        shutil.copyfile(source, temp)
        with temp.open("rb") as handle:
            os.fsync(handle.fileno())
        temp.replace(folder / name)
        moved += 1
    for folder in {folders[f] for f, _ in opened.files if f in folders}:
        fsync_directory(folder)
    return moved

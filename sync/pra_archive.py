"""The replacement backup's archive: what goes in, and every check before anything comes out.

An archive is a gzip'd tar, encrypted with age (:mod:`appliance.agefile`) to one
X25519 recipient, holding:

- ``state.json``: ``{table: {"columns": [...], "rows": [[...]]}}``, the rows of
  the tables the features declare (:class:`appliance.features.Replacement`),
  read in one SQLite snapshot (bytes as ``{"b64": …}``);
- ``config.toml``: the box's local config file, as the referent wrote it;
- ``files/FEATURE/NAME``: the plain files of the folders the features declare;
- ``manifest.json`` last: the format, the school, the schema version, each
  table's row count and each file's SHA-256.

Reading is the mirror and refuses before writing anything: a wrong key, a cut
or tampered file (age authenticates every 64 KiB), a member that is not a
plain file or has a name outside the three shapes above (no ``..``, no link),
a file whose digest is not the manifest's. Blocking: called in the executor.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import sqlite3
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

from appliance.agefile import AgeError, AgeWriter, bech32_decode, iter_plaintext
from appliance.digests import file_sha256
from appliance.i18n import N_
from appliance.problems import UserError

FORMAT: Final = "preau.pra/1"
# A file of a declared folder: what the app store names its packages, no dotfiles.
FILE_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
FEATURE_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# state.json and the manifest are read into memory: bounded.
MAX_JSON_BYTES: Final = 256 * 1024 * 1024


class PraError(UserError):
    """A replacement backup that cannot be made, read or restored (the message says why)."""


@dataclass(frozen=True, slots=True)
class BackupContent:
    """What one backup holds besides its rows: where the config and the files are."""

    uai: str
    box_id: str
    created_at: float
    config_path: Path | None
    folders: Mapping[str, Path]  # feature → folder


@dataclass(slots=True)
class OpenedBackup:
    """A decrypted, checked archive: its manifest, rows, config text and extracted files."""

    manifest: dict[str, Any]
    state: dict[str, dict[str, Any]]
    config_text: str | None
    files: dict[tuple[str, str], Path] = field(default_factory=dict)


def check_recipient(recipient: str) -> str:
    """Return an age X25519 recipient (``age1…``), or refuse it."""
    try:
        raw = bech32_decode(recipient, "age")
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise PraError(N_("clé de chiffrement refusée : une clé age (age1…) est attendue"))
    return recipient


def _encode(value: Any) -> Any:
    return {"b64": base64.b64encode(value).decode()} if isinstance(value, bytes) else value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise PraError(N_("sauvegarde illisible : valeur inattendue"))
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        raise PraError(N_("sauvegarde illisible : valeur inattendue"))
    return value


def read_rows(db_path: Path, tables: Sequence[str]) -> tuple[int, dict[str, dict[str, Any]]]:
    """Return the schema version and the rows of ``tables``, read in one snapshot."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        conn.execute("BEGIN")  # one read transaction: one snapshot of every table
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        state: dict[str, dict[str, Any]] = {}
        for table in tables:
            info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
            columns = [str(row[1]) for row in info]
            keys = [f'"{row[1]}"' for row in sorted(info, key=lambda r: int(r[5])) if row[5]]
            if not columns:
                continue  # a table of a newer feature this database does not have yet
            names = ", ".join(f'"{name}"' for name in columns)
            # Names from the features' declarations and SQLite's own column list, not input.
            order = f" ORDER BY {', '.join(keys)}" if keys else ""
            query = f'SELECT {names} FROM "{table}"{order}'  # noqa: S608
            rows = conn.execute(query).fetchall()
            state[table] = {
                "columns": columns,
                "rows": [[_encode(value) for value in row] for row in rows],
            }
        conn.execute("COMMIT")
        return version, state
    finally:
        conn.close()


def _folder_files(folders: Mapping[str, Path]) -> Iterator[tuple[str, str, Path]]:
    for feature, folder in sorted(folders.items()):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            # Plain files only: not an upload in progress (a dotfile), not a link.
            if FILE_NAME.match(path.name) and path.is_file() and not path.is_symlink():
                yield feature, path.name, path


def _member(tar: tarfile.TarFile, name: str, data: bytes, when: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(when), 0o600
    tar.addfile(info, io.BytesIO(data))


def write_backup(
    db_path: Path,
    tables: Sequence[str],
    content: BackupContent,
    recipient: str,
    out: BinaryIO,
) -> dict[str, Any]:
    """Write the encrypted archive to ``out``; return its manifest."""
    writer = AgeWriter(check_recipient(recipient), out)
    version, state = read_rows(db_path, tables)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "uai": content.uai,
        "box_id": content.box_id,
        "created_at": content.created_at,
        "schema_version": version,
        "tables": {table: len(part["rows"]) for table, part in state.items()},
        "files": {},
        "config_sha256": "",
    }
    with tarfile.open(fileobj=writer, mode="w|gz") as tar:  # type: ignore[call-overload]
        _member(
            tar, "state.json", json.dumps(state, ensure_ascii=False).encode(), content.created_at
        )
        if content.config_path is not None and content.config_path.is_file():
            config = content.config_path.read_bytes()
            manifest["config_sha256"] = hashlib.sha256(config).hexdigest()
            _member(tar, "config.toml", config, content.created_at)
        for feature, name, path in _folder_files(content.folders):
            digest = file_sha256(path)
            info = tarfile.TarInfo(f"files/{feature}/{name}")
            info.size, info.mtime, info.mode = path.stat().st_size, int(content.created_at), 0o600
            with path.open("rb") as source:
                tar.addfile(info, source)
            manifest["files"][f"{feature}/{name}"] = digest
        _member(tar, "manifest.json", json.dumps(manifest).encode(), content.created_at)
    writer.close()
    return manifest


def reencrypt(identity: str, source: BinaryIO, recipient: str, out: BinaryIO) -> None:
    """Decrypt ``source`` with ``identity`` and encrypt it again to ``recipient`` (streamed)."""
    writer = AgeWriter(check_recipient(recipient), out)
    try:
        for block in iter_plaintext(identity, source):
            writer.write(bytes(block))
    except AgeError as err:
        raise PraError(
            N_("sauvegarde illisible avec cette clé : %(error)s"), error=str(err)
        ) from err
    writer.close()


def _json_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> Any:
    if member.size > MAX_JSON_BYTES:
        raise PraError(N_("sauvegarde refusée : %(name)s trop grand"), name=member.name)
    handle = tar.extractfile(member)
    if handle is None:
        raise PraError(N_("sauvegarde illisible : %(name)s"), name=member.name)
    try:
        return json.loads(handle.read())
    except ValueError as err:
        raise PraError(N_("sauvegarde illisible : %(name)s"), name=member.name) from err


def _file_key(name: str) -> tuple[str, str]:
    parts = name.split("/")
    if len(parts) != 3 or not FEATURE_NAME.match(parts[1]) or not FILE_NAME.match(parts[2]):
        raise PraError(N_("sauvegarde refusée : nom de fichier %(name)s"), name=name[:120])
    return parts[1], parts[2]


def open_backup(identity: str, encrypted: Path, work: Path) -> OpenedBackup:
    """Decrypt and check an archive into ``work`` (emptied first); refuse it whole or not at all."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, mode=0o700)
    plain = work / "backup.tar.gz"
    try:
        with encrypted.open("rb") as source, plain.open("wb") as sink:
            for block in iter_plaintext(identity, source):
                sink.write(block)
    except AgeError as err:
        raise PraError(
            N_("sauvegarde illisible avec la clé de ce boîtier : %(error)s"), error=str(err)
        ) from err
    opened = OpenedBackup(manifest={}, state={}, config_text=None)
    digests: dict[str, str] = {}
    try:
        with tarfile.open(plain, mode="r:gz") as tar:
            for member in tar:
                if not member.isfile():
                    raise PraError(
                        N_("sauvegarde refusée : %(name)s n'est pas un fichier"),
                        name=member.name[:120],
                    )
                if member.name == "manifest.json":
                    opened.manifest = dict(_json_member(tar, member))
                elif member.name == "state.json":
                    opened.state = dict(_json_member(tar, member))
                elif member.name == "config.toml":
                    handle = tar.extractfile(member)
                    raw = handle.read() if handle is not None else b""
                    digests["config.toml"] = hashlib.sha256(raw).hexdigest()
                    opened.config_text = raw.decode("utf-8", errors="strict")
                elif member.name.startswith("files/"):
                    key = _file_key(member.name)
                    target = work / "files" / key[0] / key[1]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    digest = hashlib.sha256()
                    handle = tar.extractfile(member)
                    with target.open("wb") as sink:
                        while handle is not None and (chunk := handle.read(1 << 20)):
                            digest.update(chunk)
                            sink.write(chunk)
                    digests[f"{key[0]}/{key[1]}"] = digest.hexdigest()
                    opened.files[key] = target
                else:
                    raise PraError(
                        N_("sauvegarde refusée : membre inattendu %(name)s"), name=member.name[:120]
                    )
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as err:
        raise PraError(N_("sauvegarde illisible : %(error)s"), error=str(err)) from err
    finally:
        plain.unlink(missing_ok=True)
    _check_manifest(opened, digests)
    return opened


def _check_manifest(opened: OpenedBackup, digests: dict[str, str]) -> None:
    manifest = opened.manifest
    if manifest.get("format") != FORMAT:
        raise PraError(N_("sauvegarde refusée : format inconnu"))
    files = manifest.get("files")
    if (
        not isinstance(files, dict)
        or {k: v for k, v in digests.items() if k != "config.toml"} != files
    ):
        raise PraError(N_("sauvegarde refusée : fichiers différents de son inventaire"))
    if digests.get("config.toml", "") != manifest.get("config_sha256", ""):
        raise PraError(N_("sauvegarde refusée : configuration différente de son inventaire"))
    tables = manifest.get("tables")
    counts = {table: len(part.get("rows", [])) for table, part in opened.state.items()}
    if not isinstance(tables, dict) or tables != counts:
        raise PraError(N_("sauvegarde refusée : tables différentes de son inventaire"))
    for table, part in opened.state.items():
        columns = part.get("columns")
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise PraError(N_("sauvegarde illisible : colonnes de %(table)s"), table=table)
        rows = part["rows"]
        if not all(isinstance(row, list) and len(row) == len(columns) for row in rows):
            raise PraError(N_("sauvegarde illisible : lignes de %(table)s"), table=table)
        part["rows"] = [[_decode(value) for value in row] for row in rows]

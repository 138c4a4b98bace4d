"""The centre's small intake: enrolment, key rotation, reports, signed time, "check now".

Policy goes down as static files (:mod:`sync.repository`); the few things
that must come *up* from the boxes land here, behind the same nginx:

- ``POST /intake/enrol``: a token (used once, within its life, for its UAI)
  and the box's public key; answers the box's id;
- ``POST /intake/rotate``: a new public key, signed with the current one;
- ``POST /intake/reports``: site reports, each with an idempotency key; a key
  seen before is acknowledged and not stored again (exactly once);
- ``POST /intake/messages``: messages for the central team (help requests a
  referent forwarded), each with an idempotency key, kept once;
- ``POST /intake/pra``: a box's nightly replacement backup, encrypted to the
  collectivité's offline key (unreadable here); the last :data:`KEEP_BACKUPS`
  of each school are kept;
- ``POST /intake/pra/request``: a new box's restore key (an age recipient);
  ``preau-central pra-release`` re-encrypts the school's latest backup to it
  with the offline key, and ``POST /intake/pra/release`` hands it over;
- ``GET /intake/time?nonce=…``: the time, signed by the online timestamp key;
- ``GET /intake/wait?version=N``: a long-poll that answers as soon as the
  repository's timestamp is newer than N (the boxes' "check now"), or after
  :data:`LONG_POLL_SECONDS`.

A revoked box gets 403 on every signed request. State is plain files under
``intake/`` written atomically; a token is consumed by renaming its file, which
only one of two racing requests can do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from appliance.atomic import write_atomic
from appliance.central_outbox import KINDS
from appliance.executor import BlockingExecutor
from appliance.i18n import N_
from sync.credentials import (
    HEADER_BOX,
    CredentialError,
    parse_token,
    same_secret,
    sign_time,
    verify_request,
)
from sync.pra_archive import PraError, check_recipient, reencrypt
from sync.repository import (
    ROOT_WARNING,
    CentralRepository,
    RepositoryError,
    check_name,
    load_signer,
    now_utc,
)

_LOGGER = logging.getLogger(__name__)

LONG_POLL_SECONDS: Final = 50.0
REFRESH_TIMESTAMP_SECONDS: Final = 3600.0
MAX_BODY: Final = 4 * 1024 * 1024
# A replacement backup: the app store's packages are in it (the box refuses more too).
MAX_BACKUP_BODY: Final = 256 * 1024 * 1024
# A batch of messages for the central team: 50 of at most 8 KiB each, and their envelopes.
MAX_MESSAGES_BODY: Final = 512 * 1024

KEEP_BACKUPS: Final = 7
_BACKUP_NAME: Final = re.compile(r"^[0-9]{8}T[0-9]{6}-[A-Za-z0-9_-]{1,80}\.age$")
_BOX_ID: Final = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_REPORT_KEY: Final = re.compile(r"^[A-Za-z0-9_-]{1,80}:[0-9]{1,12}$")

REPO_KEY: Final = web.AppKey("repository", CentralRepository)
EXECUTOR_KEY: Final = web.AppKey("executor", BlockingExecutor)
WAKE_KEY: Final = web.AppKey("wake", asyncio.Condition)


@dataclass(slots=True)
class Published:
    """The repository's timestamp version, as the refresh loop last read it."""

    version: int = 0


PUBLISHED_KEY: Final = web.AppKey("published", Published)


class Intake:
    """The intake's file state (blocking: called in the executor)."""

    def __init__(self, repo: CentralRepository) -> None:
        """Keep state under the repository's intake folder."""
        self.repo = repo
        self.folder = repo.paths.intake

    def add_token(self, token_id: str, uai: str, secret_sha256: str, expires: float) -> None:
        """Record a minted token (only its secret's digest)."""
        record = {"uai": uai, "secret_sha256": secret_sha256, "expires": expires}
        write_atomic(self.folder / "tokens" / f"{token_id}.json", json.dumps(record), mode=0o600)

    def enrol(self, token_text: str, public_key: str, now: float) -> dict[str, str]:
        """Consume a token and register the box's key; return its id."""
        token = parse_token(token_text)
        if not _BOX_ID.match(token.token_id) or not public_key or len(public_key) > 100:
            raise CredentialError(N_("jeton refusé"))
        pending = self.folder / "tokens" / f"{token.token_id}.json"
        used = self.folder / "tokens-used" / f"{token.token_id}.json"
        try:
            record = json.loads(pending.read_text())
        except FileNotFoundError as err:
            raise CredentialError(N_("jeton inconnu ou déjà utilisé")) from err
        if not same_secret(token, record["secret_sha256"]) or record["uai"] != token.uai:
            raise CredentialError(N_("jeton refusé"))
        if now > float(record["expires"]):
            raise CredentialError(N_("jeton expiré"))
        used.parent.mkdir(parents=True, exist_ok=True)
        try:
            pending.rename(used)  # only one request can win this
        except FileNotFoundError as err:
            raise CredentialError(N_("jeton inconnu ou déjà utilisé")) from err
        box_id = f"{token.uai}-{token.token_id[:8]}"
        box = {"uai": token.uai, "keys": [public_key], "enrolled_at": now, "revoked": False}
        write_atomic(self.folder / "boxes" / f"{box_id}.json", json.dumps(box), mode=0o600)
        return {"box_id": box_id, "uai": token.uai}

    def box(self, box_id: str) -> dict[str, Any]:
        """Return a box's record."""
        if not _BOX_ID.match(box_id):
            raise CredentialError(N_("boîtier inconnu"))
        try:
            record: dict[str, Any] = json.loads(
                (self.folder / "boxes" / f"{box_id}.json").read_text()
            )
        except FileNotFoundError as err:
            raise CredentialError(N_("boîtier inconnu")) from err
        return record

    def boxes(self) -> dict[str, dict[str, Any]]:
        """Return every enrolled box's record."""
        folder = self.folder / "boxes"
        if not folder.is_dir():
            return {}
        return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}

    def revoke(self, box_id: str) -> None:
        """Mark a box revoked: every signed request it sends is refused from now on."""
        record = self.box(box_id)
        record["revoked"] = True
        write_atomic(self.folder / "boxes" / f"{box_id}.json", json.dumps(record), mode=0o600)

    def authenticate(
        self, headers: dict[str, str], method: str, path: str, body: bytes, now: float
    ) -> tuple[str, dict[str, Any]]:
        """Return the box that signed a request; refuse unsigned, unknown or revoked ones."""
        box_id = headers.get(HEADER_BOX, "")
        record = self.box(box_id)
        verify_request(record["keys"], headers, method, path, body, now)
        if record.get("revoked"):
            raise PermissionError(box_id)
        return box_id, record

    def rotate(self, box_id: str, record: dict[str, Any], public_key: str) -> None:
        """Replace a box's key with the one it announced."""
        if not public_key or len(public_key) > 100:
            raise CredentialError(N_("clé refusée"))
        record["keys"] = [public_key]
        write_atomic(self.folder / "boxes" / f"{box_id}.json", json.dumps(record), mode=0o600)

    def store_reports(self, box_id: str, reports: list[dict[str, Any]]) -> dict[str, Any]:
        """Keep each report once, by its idempotency key; acknowledge all."""
        folder = self.folder / "reports" / box_id
        accepted: list[str] = []
        arrived: list[str] = []
        duplicates = 0
        folder.mkdir(parents=True, exist_ok=True)
        for report in reports:
            key = str(report.get("key", ""))
            if not _REPORT_KEY.match(key) or not key.startswith(box_id + ":"):
                raise CredentialError(N_("clé de rapport refusée"))
            target = folder / f"{int(key.rsplit(':', 1)[1]):012d}.json"
            if target.exists():
                duplicates += 1
            else:
                write_atomic(target, json.dumps(report, sort_keys=True), mode=0o600)
                arrived.append(key)
            accepted.append(key)
        if arrived:
            # The order reports arrived in, for the fleet's view and the tests.
            with (folder / "arrivals.log").open("a", encoding="utf-8") as log:
                log.write("".join(f"{key}\n" for key in arrived))
        return {"accepted": accepted, "duplicates": duplicates}

    def arrivals(self, box_id: str) -> list[str]:
        """Return the keys of a box's reports in the order they first arrived."""
        try:
            text = (self.folder / "reports" / box_id / "arrivals.log").read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return text.split()

    def reports(self, box_id: str) -> list[dict[str, Any]]:
        """Return a box's stored reports, oldest first."""
        folder = self.folder / "reports" / box_id
        if not folder.is_dir():
            return []
        return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]

    def store_messages(
        self, box_id: str, uai: str, messages: list[dict[str, Any]], now: float
    ) -> dict[str, Any]:
        """Keep each message for the central team once, by its key; acknowledge all."""
        folder = self.folder / "messages" / box_id
        folder.mkdir(parents=True, exist_ok=True)
        accepted: list[str] = []
        for message in messages:
            key = str(message.get("key", ""))
            if not _REPORT_KEY.match(key) or not key.startswith(box_id + ":"):
                raise CredentialError(N_("clé de message refusée"))
            if message.get("kind") not in KINDS or not isinstance(message.get("body"), dict):
                raise CredentialError(N_("message d'un genre inconnu"))
            target = folder / f"{int(key.rsplit(':', 1)[1]):012d}.json"
            if not target.exists():
                kept = {
                    "key": key,
                    "uai": uai,
                    "kind": message["kind"],
                    "created_at": message.get("created_at"),
                    "received_at": now,
                    "body": message["body"],
                }
                write_atomic(target, json.dumps(kept, ensure_ascii=False), mode=0o600)
            accepted.append(key)
        return {"accepted": accepted}

    def messages(self) -> list[dict[str, Any]]:
        """Return every box's messages, oldest first."""
        found = [
            json.loads(path.read_text()) for path in (self.folder / "messages").glob("*/*.json")
        ]
        return sorted(found, key=lambda m: (m["received_at"], m["key"]))

    # -- replacement backups ("PRA") ----------------------------------------------

    def _backups_of(self, uai: str) -> Path:
        return self.folder / "pra" / check_name(uai)

    def store_backup(self, box_id: str, uai: str, data: bytes, now: float) -> dict[str, Any]:
        """Keep one box's encrypted backup; drop the school's oldest beyond the last few."""
        if not data.startswith(b"age-encryption.org/v1\n"):
            raise CredentialError(N_("sauvegarde refusée : fichier age attendu"))
        folder = self._backups_of(uai)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        name = f"{stamp}-{box_id}.age"
        write_atomic(folder / name, data, mode=0o600)
        for old in self.backups(uai)[KEEP_BACKUPS:]:
            (folder / old["name"]).unlink(missing_ok=True)
        return {"stored": name, "bytes": len(data)}

    def backups(self, uai: str) -> list[dict[str, Any]]:
        """Return a school's backups, newest first (name, size)."""
        folder = self._backups_of(uai)
        if not folder.is_dir():
            return []
        names = sorted(
            (p.name for p in folder.iterdir() if _BACKUP_NAME.match(p.name)), reverse=True
        )
        return [{"name": n, "bytes": (folder / n).stat().st_size} for n in names]

    def request_restore(self, box_id: str, uai: str, recipient: str, now: float) -> None:
        """Record a new box's restore key, for the central team's release."""
        record = {"uai": uai, "recipient": check_recipient(recipient), "asked_at": now}
        write_atomic(
            self.folder / "pra-requests" / f"{box_id}.json", json.dumps(record), mode=0o600
        )

    def restore_requests(self) -> dict[str, dict[str, Any]]:
        """Return every box's restore request."""
        folder = self.folder / "pra-requests"
        if not folder.is_dir():
            return {}
        return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}

    def release(self, box_id: str, identity: str, name: str | None = None) -> str:
        """Re-encrypt the school's latest backup (or ``name``) to the box that asked; return it."""
        request = self.restore_requests().get(box_id)
        if request is None:
            raise CredentialError(N_("ce boîtier n'a pas demandé de restauration"))
        backups = [b["name"] for b in self.backups(str(request["uai"]))]
        chosen = name or (backups[0] if backups else "")
        if chosen not in backups:
            raise CredentialError(
                N_("aucune sauvegarde %(name)s pour l'établissement %(uai)s"),
                name=name or "", uai=request["uai"],
            )  # fmt: skip
        source = self._backups_of(str(request["uai"])) / chosen
        target = self.folder / "pra-releases" / f"{box_id}.age"
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{box_id}.tmp")
        with source.open("rb") as encrypted, temp.open("wb") as out:
            reencrypt(identity, encrypted, str(request["recipient"]), out)
            out.flush()
            os.fsync(out.fileno())
        temp.replace(target)
        return chosen

    def released(self, box_id: str) -> Path | None:
        """Return the file of the backup released to ``box_id``, if any."""
        path = self.folder / "pra-releases" / f"{box_id}.age"
        return path if path.is_file() else None


def _headers(request: web.Request) -> dict[str, str]:
    return {key: value for key, value in request.headers.items()}


async def _signed(
    request: web.Request, limit: int = MAX_BODY
) -> tuple[Intake, str, dict[str, Any], bytes]:
    intake = Intake(request.app[REPO_KEY])
    if request.content_length is not None and request.content_length > limit:
        # Before reading: an unauthenticated sender cannot make the intake hold a big body.
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    body = await request.read()
    try:
        box_id, record = await request.app[EXECUTOR_KEY].run(
            intake.authenticate, _headers(request), request.method, request.path, body, time.time()
        )
    except CredentialError as err:
        raise web.HTTPUnauthorized(text=str(err)) from err
    except PermissionError as err:
        raise web.HTTPForbidden(
            text=json.dumps({"error": "revoked"}), content_type="application/json"
        ) from err
    return intake, box_id, record, body


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as err:
        raise web.HTTPBadRequest(text="JSON attendu") from err


async def enrol(request: web.Request) -> web.StreamResponse:
    """Exchange a token and a public key for a box id."""
    payload = _json(await request.read())
    if not isinstance(payload, dict):
        raise web.HTTPBadRequest(text="JSON attendu")
    intake = Intake(request.app[REPO_KEY])
    try:
        answer = await request.app[EXECUTOR_KEY].run(
            intake.enrol,
            str(payload.get("token", "")),
            str(payload.get("public_key", "")),
            time.time(),
        )
    except CredentialError as err:
        raise web.HTTPUnauthorized(text=str(err)) from err
    _LOGGER.info("Box %s enrolled", answer["box_id"])
    return web.json_response(answer)


async def rotate(request: web.Request) -> web.StreamResponse:
    """Replace the signing box's key."""
    intake, box_id, record, body = await _signed(request)
    payload = _json(body)
    try:
        await request.app[EXECUTOR_KEY].run(
            intake.rotate, box_id, record, str(payload.get("public_key", ""))
        )
    except CredentialError as err:
        raise web.HTTPBadRequest(text=str(err)) from err
    return web.json_response({"box_id": box_id})


async def reports(request: web.Request) -> web.StreamResponse:
    """Store a batch of reports, once each."""
    intake, box_id, _record, body = await _signed(request)
    payload = _json(body)
    if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
        raise web.HTTPBadRequest(text="liste de rapports attendue")
    try:
        answer = await request.app[EXECUTOR_KEY].run(intake.store_reports, box_id, payload)
    except CredentialError as err:
        raise web.HTTPBadRequest(text=str(err)) from err
    return web.json_response(answer)


async def messages(request: web.Request) -> web.StreamResponse:
    """Store a batch of messages for the central team (help requests), once each."""
    intake, box_id, record, body = await _signed(request, MAX_MESSAGES_BODY)
    payload = _json(body)
    if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
        raise web.HTTPBadRequest(text="liste de messages attendue")
    try:
        answer = await request.app[EXECUTOR_KEY].run(
            intake.store_messages, box_id, str(record["uai"]), payload, time.time()
        )
    except CredentialError as err:
        raise web.HTTPBadRequest(text=str(err)) from err
    return web.json_response(answer)


async def pra_backup(request: web.Request) -> web.StreamResponse:
    """Keep a box's encrypted replacement backup."""
    intake, box_id, record, body = await _signed(request, MAX_BACKUP_BODY)
    try:
        answer = await request.app[EXECUTOR_KEY].run(
            intake.store_backup, box_id, str(record["uai"]), body, time.time()
        )
    except CredentialError as err:
        raise web.HTTPBadRequest(text=str(err)) from err
    _LOGGER.info("Replacement backup of %s kept: %d bytes", box_id, len(body))
    return web.json_response(answer)


async def pra_request(request: web.Request) -> web.StreamResponse:
    """Record a box's request for its school's latest backup."""
    intake, box_id, record, body = await _signed(request)
    payload = _json(body)
    if not isinstance(payload, dict):
        raise web.HTTPBadRequest(text="JSON attendu")
    try:
        await request.app[EXECUTOR_KEY].run(
            intake.request_restore, box_id, str(record["uai"]),
            str(payload.get("recipient", "")), time.time(),
        )  # fmt: skip
    except (CredentialError, PraError) as err:
        raise web.HTTPBadRequest(text=str(err)) from err
    _LOGGER.warning("Box %s asks for its school's replacement backup", box_id)
    return web.json_response({"requested": box_id})


async def pra_release(request: web.Request) -> web.StreamResponse:
    """Hand the box the backup the central team released to it (404 until then)."""
    intake, box_id, _record, _body = await _signed(request)
    path = await request.app[EXECUTOR_KEY].run(intake.released, box_id)
    if path is None:
        raise web.HTTPNotFound(text="pas encore libérée")
    return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})


async def signed_time(request: web.Request) -> web.StreamResponse:
    """Answer the time, signed by the online timestamp key, with the box's nonce."""
    nonce = request.query.get("nonce", "")
    if not 16 <= len(nonce) <= 128 or not nonce.isalnum():
        raise web.HTTPBadRequest(text="nonce attendu")
    repo = request.app[REPO_KEY]
    signer = await request.app[EXECUTOR_KEY].run(load_signer, repo.paths.keys / "online.pem")
    return web.json_response(sign_time(signer, nonce, time.time()))


async def wait(request: web.Request) -> web.StreamResponse:
    """Answer when the repository's timestamp is newer than ``version`` (long-poll)."""
    try:
        known = int(request.query.get("version", "0"))
        longest = min(
            max(float(request.query.get("seconds", LONG_POLL_SECONDS)), 0.0), LONG_POLL_SECONDS
        )
    except ValueError as err:
        raise web.HTTPBadRequest(text="version attendue") from err
    repo = request.app[REPO_KEY]
    condition = request.app[WAKE_KEY]
    published = request.app[PUBLISHED_KEY]
    if published.version == 0:
        published.version = await request.app[EXECUTOR_KEY].run(repo.timestamp_version)
    if published.version <= known:
        # No file read per waiter: the refresh loop reads the version and notifies.
        async with condition:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    condition.wait_for(lambda: published.version > known), timeout=longest
                )
    return web.json_response({"version": published.version})


async def _refresh_forever(app: web.Application) -> AsyncIterator[None]:
    """Re-sign the timestamp hourly and wake long-polls when the repository changes."""
    repo = app[REPO_KEY]
    executor = app[EXECUTOR_KEY]

    async def refresh() -> None:
        last_refresh = 0.0
        seen = await executor.run(repo.timestamp_version)
        app[PUBLISHED_KEY].version = seen
        while True:
            try:
                if time.time() - last_refresh >= REFRESH_TIMESTAMP_SECONDS:
                    await executor.run(repo.refresh_timestamp)
                    last_refresh = time.time()
                    left = await executor.run(repo.root_expires) - now_utc()
                    if left < ROOT_WARNING:
                        _LOGGER.warning(
                            "The root expires in %d days: run preau-central root-renew", left.days
                        )
                version = await executor.run(repo.timestamp_version)
                if version != seen:
                    seen = version
                    app[PUBLISHED_KEY].version = version
                    async with app[WAKE_KEY]:
                        app[WAKE_KEY].notify_all()
            except (OSError, RepositoryError):
                _LOGGER.exception("Could not refresh the repository's timestamp")
            await asyncio.sleep(0.5)

    task = asyncio.create_task(refresh(), name="preau-central-refresh")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_intake_app(root: Path, executor: BlockingExecutor) -> web.Application:
    """Return the intake application for the central directory ``root``."""
    app = web.Application(client_max_size=MAX_BACKUP_BODY)  # each route checks its own
    app[REPO_KEY] = CentralRepository(root)
    app[EXECUTOR_KEY] = executor
    app[WAKE_KEY] = asyncio.Condition()
    app[PUBLISHED_KEY] = Published()
    app.router.add_post("/intake/enrol", enrol)
    app.router.add_post("/intake/rotate", rotate)
    app.router.add_post("/intake/reports", reports)
    app.router.add_post("/intake/messages", messages)
    app.router.add_post("/intake/pra", pra_backup)
    app.router.add_post("/intake/pra/request", pra_request)
    app.router.add_post("/intake/pra/release", pra_release)
    app.router.add_get("/intake/time", signed_time)
    app.router.add_get("/intake/wait", wait)
    app.cleanup_ctx.append(_refresh_forever)
    return app

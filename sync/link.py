"""The box's exchanges with the centre's intake: enrol, rotate its key, tell the time, send.

Every request but enrolment and the time is signed with the box's own key
(:mod:`sync.credentials`); the private key is a file of the box (0600) and
is never sent. A refusal of the centre is a :class:`LinkError` naming why;
"revoked" is its own error so the service can show it.

Files under ``DATA_DIR/sync/``: ``box.pem`` (the key), ``box.next.pem`` (a
key being rotated in: if the box dies between the centre's answer and the
swap, the next request tries it), ``tuf/`` (the trusted metadata) and
``targets/`` (downloaded bundles).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import aiohttp

from appliance.atomic import write_atomic
from appliance.digests import file_sha256
from appliance.i18n import N_
from appliance.problems import UserError
from sync.credentials import (
    CredentialError,
    load_box_key,
    new_box_key,
    parse_token,
    public_text,
    sign_request,
    verify_time,
)
from sync.state import LinkState, ask_check, read_link, write_link
from sync.trust import follow_roots, pin_root, trusted_root

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from appliance.core import Core

_TIMEOUT: Final = aiohttp.ClientTimeout(total=20)


class LinkError(UserError):
    """The centre refused an exchange or could not be reached."""


class RevokedError(LinkError):
    """The centre revoked this box."""


@dataclass(frozen=True, slots=True)
class SyncPaths:
    """Where the link keeps its files."""

    root: Path

    @classmethod
    def of(cls, core: Core) -> SyncPaths:
        """Return the paths under the box's data folder."""
        return cls(core.config.site.data_dir / "sync")

    @property
    def key(self) -> Path:
        """Return the box's private key."""
        return self.root / "box.pem"

    @property
    def next_key(self) -> Path:
        """Return the key being rotated in."""
        return self.root / "box.next.pem"

    @property
    def metadata(self) -> Path:
        """Return the trusted metadata folder."""
        return self.root / "tuf"

    @property
    def targets(self) -> Path:
        """Return the downloaded targets folder."""
        return self.root / "targets"

    @property
    def restore_key(self) -> Path:
        """Return the age key a replacement backup is released to (made on request)."""
        return self.root / "restore.age"

    @property
    def released(self) -> Path:
        """Return the replacement backup the centre released to this box."""
        return self.root / "released.age"

    @property
    def clock(self) -> Path:
        """Return the last trusted time (the box's fake-hwclock)."""
        return self.root / "clock"


def read_key(path: Path) -> Ed25519PrivateKey:
    """Return the private key stored at ``path``."""
    return load_box_key(path.read_bytes())


def _new_key_file(path: Path) -> Ed25519PrivateKey:
    pem = new_box_key()
    write_atomic(path, pem, mode=0o600)
    return load_box_key(pem)


async def _answer(response: aiohttp.ClientResponse) -> Any:
    await _refusal(response)
    return await response.json()


async def _refusal(response: aiohttp.ClientResponse) -> None:
    """Raise what a non-200 answer of the centre means."""
    if response.status == 403:
        raise RevokedError(N_("le centre a révoqué ce boîtier"))
    if response.status != 200:
        reason = (await response.text())[:200]
        raise LinkError(
            N_("le centre a refusé (%(status)s) : %(reason)s"),
            status=response.status,
            reason=reason,
        )


async def enrol(
    core: Core,
    token_text: str,
    actor: str,
    source: str,
    session: aiohttp.ClientSession | None = None,
    *,
    schools: set[str] | None = None,
) -> LinkState:
    """Enrol this box with a token the centre minted for its school.

    ``schools``: the schools the token may be for (default: the config's;
    the first-run page gives the one being set up).
    """
    token = parse_token(token_text)
    if schools is None:
        schools = {school.uai for school in core.config.site.schools}
    if schools and token.uai not in schools:
        raise CredentialError(
            N_("ce jeton est pour l'établissement %(uai)s, pas pour ce boîtier"), uai=token.uai
        )
    paths = SyncPaths.of(core)
    paths.root.mkdir(parents=True, exist_ok=True)
    await core.executor.run(pin_root, paths.metadata, token.repository, token.root_sha256)
    key = await core.executor.run(_new_key_file, paths.key)
    own = session is None
    session = session or aiohttp.ClientSession(timeout=_TIMEOUT)
    try:
        body = {"token": token_text.strip(), "public_key": public_text(key)}
        try:
            async with session.post(f"{token.intake}/intake/enrol", json=body) as response:
                if response.status == 401:
                    reason = (await response.text())[:200]
                    raise CredentialError(
                        N_("jeton refusé par le centre : %(reason)s"), reason=reason
                    )
                answer = await _answer(response)
        except aiohttp.ClientError as err:
            raise LinkError(N_("centre injoignable : %(error)s"), error=str(err)) from err
        link = LinkState(
            box_id=str(answer["box_id"]),
            uai=token.uai,
            repository=token.repository,
            intake=token.intake,
            enrolled_at=time.time(),
        )
        # The first trusted time, kept on disk: the box can date its reports from now on.
        await Link(core, session).sync_time(link)
    finally:
        if own:
            await session.close()
    await write_link(core.db, link)
    await ask_check(core.db)
    await core.audit.record(
        actor=actor, source=source, action="sync.enrol", outcome="success", target=link.box_id
    )
    return link


async def rotate_key(core: Core, actor: str, source: str) -> LinkState:
    """Give the box a new key pair, the centre taking it (no new enrolment)."""
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
        return await Link(core, session).rotate_key(actor, source)


class Link:
    """A box's signed exchanges with its centre."""

    def __init__(
        self,
        core: Core,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Use ``session`` for every request and ``clock`` as the system clock."""
        self.core = core
        self.session = session
        self.clock = clock
        self.paths = SyncPaths.of(core)
        # Trusted time minus the system clock, once the centre told the time.
        self.offset: float | None = None
        # The last time the centre told (kept on disk): the clock never goes below it.
        self.floor = 0.0

    async def load_floor(self) -> None:
        """Read the last trusted time kept on disk (a box without a clock boots in 1970)."""
        try:
            text = await self.core.executor.run(self.paths.clock.read_text)
            self.floor = float(text.strip())
        except (OSError, ValueError):
            self.floor = 0.0

    @property
    def time_trusted(self) -> bool:
        """Say whether the centre told this process the time."""
        return self.offset is not None

    def now(self) -> float:
        """Return the best time known: the centre's if told, never before the last one told."""
        return max(self.clock() + (self.offset or 0.0), self.floor)

    async def sync_time(self, link: LinkState) -> float:
        """Learn the time from the centre's signed answer; return the offset."""
        nonce = secrets.token_hex(16)
        sent = self.clock()
        try:
            async with self.session.get(
                f"{link.intake}/intake/time", params={"nonce": nonce}
            ) as response:
                answer = await _answer(response)
        except aiohttp.ClientError as err:
            raise LinkError(N_("centre injoignable : %(error)s"), error=str(err)) from err
        received = self.clock()
        root = await self.core.executor.run(trusted_root, self.paths.metadata)
        try:
            told = verify_time(root, answer, nonce)
        except CredentialError:
            # Perhaps the centre rotated its online key: only a newer root names it.
            if not await self.core.executor.run(self._newer_root, link.repository, root.version):
                raise
            root = await self.core.executor.run(trusted_root, self.paths.metadata)
            told = verify_time(root, answer, nonce)
        # The answer was signed somewhere between sending and receiving.
        self.offset = told - (sent + received) / 2
        self.floor = max(self.floor, told)
        await self.core.executor.run(write_atomic, self.paths.clock, f"{told:.0f}\n", mode=0o644)
        return self.offset

    def _newer_root(self, repository: str, version: int) -> bool:
        """Walk the root chain (blocking); say whether it moved past ``version``."""
        return follow_roots(self.paths.metadata, repository) > version

    async def signed_post(
        self,
        link: LinkState,
        route: str,
        payload: bytes | Path,
        content_type: str = "application/json",
    ) -> Any:
        """POST ``payload`` (bytes, or a file sent as a stream) to ``route``, signed.

        Return the JSON answer. A file is never read whole into memory: a
        replacement backup may be far larger than a 1 GB box should hold.
        """
        answer = await self._signed(link, route, payload, content_type)
        return json.loads(answer or b"null")

    async def signed_download(self, link: LinkState, route: str, into: Path) -> bool:
        """POST an empty signed request to ``route`` and stream the answer into ``into``.

        Return False on 404 (nothing to fetch yet). The file is written under a
        temporary name and renamed: a cut download never leaves half a file.
        """
        return await self._signed(link, route, b"", "application/json", into) is not None

    async def _signed(
        self,
        link: LinkState,
        route: str,
        payload: bytes | Path,
        content_type: str,
        into: Path | None = None,
    ) -> bytes | None:
        """Send one signed POST; return the answer (None: 404 on a download, b"": written)."""
        url = f"{link.intake}/intake/{route}"
        path = urlsplit(url).path
        keys = [self.paths.key]
        if await self.core.executor.run(self.paths.next_key.exists):
            keys.append(self.paths.next_key)
        digest = None
        if isinstance(payload, Path):
            digest = await self.core.executor.run(file_sha256, payload)
            size = (await self.core.executor.run(payload.stat)).st_size
        last: LinkError | None = None
        for key_path in keys:
            key = await self.core.executor.run(read_key, key_path)
            body = b"" if isinstance(payload, Path) else payload
            headers = sign_request(key, link.box_id, "POST", path, body, self.now(), digest)
            headers["Content-Type"] = content_type
            data: bytes | AsyncIterator[bytes] = body
            if isinstance(payload, Path):
                headers["Content-Length"] = str(size)
                data = self.core.executor.file_chunks(payload)
            try:
                async with self.session.post(url, data=data, headers=headers) as response:
                    if response.status == 401:
                        last = LinkError(
                            N_("le centre a refusé (%(status)s) : %(reason)s"),
                            status=401,
                            reason=(await response.text())[:200],
                        )
                        continue
                    answer: bytes | None
                    if into is not None and response.status == 404:
                        answer = None
                    elif into is not None:
                        await _refusal(response)
                        await self._save(response, into)
                        answer = b""
                    else:
                        await _refusal(response)
                        answer = await response.read()
            except aiohttp.ClientError as err:
                raise LinkError(N_("centre injoignable : %(error)s"), error=str(err)) from err
            if key_path == self.paths.next_key:
                # The centre took the rotated key before the box could swap it in.
                await self.core.executor.run(os.replace, key_path, self.paths.key)
            return answer
        raise last or LinkError(N_("ce boîtier n'a pas de clé"))

    async def _save(self, response: aiohttp.ClientResponse, into: Path) -> None:
        """Write an answer's body to ``into`` as it arrives (whole or not at all)."""
        run = self.core.executor.run
        temp = into.with_name(f".{into.name}.part")
        handle = await run(temp.open, "wb")
        try:
            async for chunk in response.content.iter_chunked(1 << 20):
                await run(handle.write, chunk)
            await run(handle.flush)
            await run(os.fsync, handle.fileno())
        finally:
            await run(handle.close)
        await run(temp.chmod, 0o600)
        await run(temp.replace, into)

    async def rotate_key(self, actor: str, source: str) -> LinkState:
        """Make a new key pair and have the centre take it (no new enrolment)."""
        link = await read_link(self.core.db)
        if not link.enrolled:
            raise LinkError(N_("ce boîtier n'est inscrit auprès d'aucun centre"))
        new = await self.core.executor.run(_new_key_file, self.paths.next_key)
        body = f'{{"public_key": "{public_text(new)}"}}'.encode()
        await self.signed_post(link, "rotate", body)
        if await self.core.executor.run(self.paths.next_key.exists):
            await self.core.executor.run(os.replace, self.paths.next_key, self.paths.key)
        link = await read_link(self.core.db)
        await self.core.audit.record(
            actor=actor, source=source, action="sync.rotate", outcome="success", target=link.box_id
        )
        return link

    async def wait_for_publication(self, link: LinkState, known: int, seconds: float) -> int:
        """Long-poll the centre until it publishes after ``known``; return its version."""
        timeout = aiohttp.ClientTimeout(total=seconds + 15)
        try:
            async with self.session.get(
                f"{link.intake}/intake/wait",
                params={"version": str(known), "seconds": f"{seconds:.1f}"},
                timeout=timeout,
            ) as response:
                answer = await _answer(response)
        except aiohttp.ClientError as err:
            raise LinkError(N_("centre injoignable : %(error)s"), error=str(err)) from err
        return int(answer.get("version", 0))

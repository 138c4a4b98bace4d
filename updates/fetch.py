"""Download a new system version from the centre's source, as root, and offer it.

The source is an index the centre publishes (``updates.source_url``): the
version, the bundle's URL (relative to the index or absolute), its SHA-256
and its size. The index is not trusted for anything but finding the bytes:
the bundle's own CMS signature, checked by RAUC, decides. Before a byte is
downloaded the data partition must hold the announced size and 10 %; the
download never grows past the announced size; it lands in a hidden part file
renamed into place only whole, verified by digest and by RAUC (a power cut
mid-download leaves the old offer or none, never half a bundle).

Names are asked of fixed resolvers (``updates.resolvers``), never of the
box's own DNS filter: a box whose filter is broken must still fetch its mend
(Pi-hole's users met the opposite).
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import time
from pathlib import Path
from typing import Final

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from yarl import URL

from appliance.dns_question import address_result, ask_addresses
from appliance.endpoints import split_endpoint
from appliance.i18n import N_
from appliance.problems import UserError
from updates import offered, preflight, rauc
from updates.approval import Offer
from updates.config import VERSION, UpdatesConfig, check_source_url

INDEX_BYTES: Final = 64 * 1024
MAX_BUNDLE: Final = 4_000_000_000
CHUNK: Final = 1 << 20


class Index(BaseModel):
    """What the source says of its newest version."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str = Field(pattern=VERSION.pattern)
    url: str = Field(min_length=1, max_length=2048)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0, le=MAX_BUNDLE)


class FetchFailed(UserError):
    """The source could not be read, or gave something else than it announced."""


class FixedResolvers(AbstractResolver):
    """Ask the configured resolvers in turn (the system's only when none is configured)."""

    def __init__(self, resolvers: list[str]) -> None:
        """Keep the resolvers' addresses."""
        self._resolvers = [split_endpoint(text) for text in resolvers]
        self._system = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Return HOST's addresses: the literal itself, else the first resolver's answer."""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return [address_result(host, host, port)]
        if not self._resolvers:
            return await self._system.resolve(host, port, family)
        for resolver in self._resolvers:
            try:
                addresses = await ask_addresses(resolver, host)
            except (OSError, TimeoutError):
                continue
            if addresses:
                return [address_result(host, address, port) for address in addresses]
        raise OSError(f"{host}: no address from the updater's resolvers")

    async def close(self) -> None:
        """Close the system resolver."""
        await self._system.close()


def _session(section: UpdatesConfig) -> ClientSession:
    connector = TCPConnector(resolver=FixedResolvers(section.resolvers), limit=2)
    # No overall limit: a slow school link takes its time; a stalled one is cut.
    return ClientSession(
        connector=connector, timeout=ClientTimeout(total=None, connect=30, sock_read=120)
    )


def _check_answer(status: int, url: str) -> None:
    """Refuse any answer but 200 from the source, naming it."""
    if status != 200:
        raise FetchFailed(
            N_("La source des mises à jour répond %(status)s (%(url)s)."), status=status, url=url
        )


async def _read_index(session: ClientSession, url: str) -> tuple[Index, str]:
    """Return the source's index and the bundle's absolute URL."""
    async with session.get(url) as response:
        _check_answer(response.status, url)
        body = await response.content.read(INDEX_BYTES + 1)
    if len(body) > INDEX_BYTES:
        raise FetchFailed(N_("L'index des mises à jour est trop grand (%(url)s)."), url=url)
    try:
        index = Index.model_validate_json(body)
        bundle_url = check_source_url(str(URL(url).join(URL(index.url))))
    except (ValidationError, ValueError) as err:
        raise FetchFailed(N_("L'index des mises à jour est illisible (%(url)s)."), url=url) from err
    return index, bundle_url


async def _download(session: ClientSession, url: str, index: Index, part: Path) -> None:
    """Write the bundle at URL to PART: no byte past the announced size, the digest checked."""
    digest = hashlib.sha256()
    written = 0
    async with session.get(url) as response:
        _check_answer(response.status, url)
        with part.open("wb") as out:
            async for chunk in response.content.iter_chunked(CHUNK):
                written += len(chunk)
                if written > index.size:
                    break
                digest.update(chunk)
                out.write(chunk)
    if written != index.size or digest.hexdigest() != index.sha256:
        raise FetchFailed(
            N_(
                "Le fichier téléchargé n'est pas celui annoncé (taille ou empreinte) ; il est "
                "écarté et l'ancienne offre reste."
            )
        )


async def _verified(part: Path, section: UpdatesConfig, index: Index) -> rauc.BundleInfo:
    """Have RAUC verify PART; refuse a signed version other than the one announced."""
    info = await rauc.verify(part, section.rauc_conf)
    if info.version != index.version:
        raise FetchFailed(
            N_("Le paquet signé est la version %(signed)s, l'index annonçait %(said)s."),
            signed=info.version[:64],
            said=index.version,
        )
    return info


async def fetch_offer(section: UpdatesConfig, running: str) -> Offer | None:
    """Download and offer the source's version if it is new; return the offer, or None."""
    if section.source_url is None:
        return None
    folder = section.folder
    try:
        async with _session(section) as session:
            index, url = await _read_index(session, section.source_url)
            current = offered.read_offer(folder)
            if index.version == running or (current and current.sha256 == index.sha256):
                return None
            preflight.check_space(offered.free_bytes(folder), index.size, 0)
            part = offered.new_part(folder)
            try:
                await _download(session, url, index, part)
            except BaseException:
                part.unlink(missing_ok=True)
                raise
    except (ClientError, OSError, TimeoutError) as err:
        raise FetchFailed(
            N_("Téléchargement de la mise à jour impossible : %(said)s"), said=str(err)[:200]
        ) from err
    try:
        info = await _verified(part, section, index)
        # The new offer replaces the old one only now, whole and verified.
        offered.clear_offer(folder, keep=part)
        offered.place_bundle(part, folder)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    offer = Offer(info.version, index.sha256, index.size, info.compatible, time.time())
    offered.write_offer(offer, folder)
    return offer

"""Gather what devices need from the box's configuration and files, then export it.

The one place the exports read files (certificates, the Wi-Fi passphrase):
every entry point (page, API, CLI) goes through :func:`export_profile`, so a
bad file is refused the same way everywhere, naming its configuration key.
The settings come from declared configuration sections: the portal's
(certificate chain, Delivery Optimization host) and the cache's (PAC); the
certificate authority is, unless set, the self-signed root that ends the
portal's or the admin UI's chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from appliance.config import PreauConfig, WebConfig
from appliance.i18n import N_
from appliance.problems import UserError
from cache.config import CacheConfig
from captive_portal.config import PortalConfig
from sync.config import DevicesConfig, SyncConfig
from sync.device_profiles import (
    APPLE_MEDIA_TYPE,
    DeviceSettings,
    SigningKey,
    android_policy,
    apple_profile,
    sign_apple_profile,
    windows_policy,
)

if TYPE_CHECKING:
    from appliance.core import Core

MAX_FILE_BYTES: Final = 256 * 1024


class DeviceExportError(UserError):
    """A file the exports need is missing or wrong (the message names its key)."""


@dataclass(frozen=True, slots=True)
class Export:
    """One file ready to import into an MDM."""

    body: bytes
    media_type: str
    filename: str
    signed: bool = False


def _read(path: Path, key: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise DeviceExportError(
            N_("%(key)s : fichier illisible (%(path)s) : %(error)s"),
            key=key, path=str(path), error=err.strerror or str(err),
        ) from err  # fmt: skip
    if len(data) > MAX_FILE_BYTES:
        raise DeviceExportError(N_("%(key)s : fichier trop grand (%(path)s)"), key=key, path=path)
    return data


def _certificates(path: Path, key: str) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(_read(path, key))
    except ValueError as err:
        raise DeviceExportError(
            N_("%(key)s : pas de certificat PEM dans %(path)s"), key=key, path=str(path)
        ) from err
    return chain


def _root(chain: list[x509.Certificate]) -> x509.Certificate | None:
    roots = [c for c in chain if c.subject == c.issuer]
    return roots[-1] if roots else None


def certificate_authority(config: PreauConfig, devices: DevicesConfig) -> bytes | None:
    """Return the DER root devices must trust, or None when the box has none."""
    if devices.ca_cert is not None:
        chain = _certificates(devices.ca_cert, "sync.devices.ca_cert")
        return chain[0].public_bytes(serialization.Encoding.DER)
    chains = (
        (config.section(PortalConfig).tls_cert, "portal.tls_cert"),
        (config.section(WebConfig).tls_cert, "web.tls_cert"),
    )
    for path, key in chains:
        if path is not None:
            root = _root(_certificates(path, key))
            if root is not None:
                return root.public_bytes(serialization.Encoding.DER)
    return None


def passphrase(devices: DevicesConfig) -> str:
    """Return the Wi-Fi's WPA2 passphrase (8 to 63 printable ASCII), or ""."""
    if devices.passphrase_file is None:
        return ""
    key = "sync.devices.passphrase_file"
    text = _read(devices.passphrase_file, key).decode("utf-8", "replace").rstrip("\r\n")
    if not 8 <= len(text) <= 63 or not all(" " <= c <= "~" for c in text):
        raise DeviceExportError(
            N_("%(key)s : une phrase WPA2 a de 8 à 63 caractères ASCII imprimables"), key=key
        )
    return text


def device_settings(config: PreauConfig, origin: str) -> DeviceSettings:
    """Return what devices need of this box; ``origin`` is the page's (or "")."""
    devices = config.section(SyncConfig).devices
    school = config.site.schools[0]
    portal = config.section(PortalConfig)
    cache = config.section(CacheConfig)
    base = devices.box_url or origin
    return DeviceSettings(
        uai=school.uai,
        school=school.name,
        ca_der=certificate_authority(config, devices),
        ssid=devices.ssid,
        hidden=devices.hidden,
        passphrase=passphrase(devices) if devices.ssid else "",
        pac_url=f"http://{cache.listen[0]}/proxy.pac" if cache.enabled and cache.listen else "",
        do_cache_host=portal.do_cache_host,
        store_url=f"{base.rstrip('/')}/applis" if base else "",
    )


def _signer(devices: DevicesConfig) -> tuple[x509.Certificate, SigningKey] | None:
    if devices.signing_cert is None and devices.signing_key is None:
        return None
    if devices.signing_cert is None or devices.signing_key is None:
        missing = (
            "sync.devices.signing_key"
            if devices.signing_key is None
            else "sync.devices.signing_cert"
        )
        raise DeviceExportError(
            N_("%(key)s : à régler avec le certificat de signature"), key=missing
        )
    certificate = _certificates(devices.signing_cert, "sync.devices.signing_cert")[0]
    key_name = "sync.devices.signing_key"
    try:
        key = serialization.load_pem_private_key(_read(devices.signing_key, key_name), None)
    except (ValueError, TypeError) as err:
        raise DeviceExportError(
            N_("%(key)s : pas de clé privée PEM sans phrase de passe"), key=key_name
        ) from err
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise DeviceExportError(N_("%(key)s : une clé RSA ou EC est attendue"), key=key_name)
    if key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise DeviceExportError(
            N_("%(key)s : cette clé n'est pas celle du certificat"), key=key_name
        )
    return certificate, key


def export_profile(config: PreauConfig, kind: str, origin: str) -> Export:
    """Return the file for ``kind`` (apple, android, windows); blocking (files)."""
    settings = device_settings(config, origin)
    stem = f"preau-{settings.uai.lower()}"
    if kind == "apple":
        profile = apple_profile(settings)
        signer = _signer(config.section(SyncConfig).devices)
        if signer is not None:
            profile = sign_apple_profile(profile, *signer)
        return Export(profile, APPLE_MEDIA_TYPE, f"{stem}.mobileconfig", signer is not None)
    if kind == "android":
        body = android_policy(settings)
        suffix = "android.json"
    elif kind == "windows":
        body = windows_policy(settings)
        suffix = "windows.json"
    else:
        raise DeviceExportError(N_("type d'export inconnu : %(kind)s"), kind=kind)
    data = json.dumps(body, ensure_ascii=False, indent=1).encode()
    return Export(data, "application/json", f"{stem}-{suffix}")


async def export_for(core: Core, kind: str, origin: str, actor: str, source: str) -> Export:
    """Build the export off the event loop and keep who took it (it may hold the Wi-Fi key)."""
    export = await core.executor.run(export_profile, core.config, kind, origin)
    await core.audit.record(
        actor=actor, source=source, action="sync.device_profile", outcome="success", target=kind
    )
    return export

"""What an MDM pushes to devices so they work with the box, in each MDM's own format.

Whatever the collectivité runs (Intune, Jamf, Workspace ONE, MobiControl,
MaaS360, Google's Android management), devices need the same few things from
the box: trust in its certificate authority, the school's Wi-Fi with captive
detection left on, the proxy auto-configuration (PAC) of the update cache, the
Delivery Optimization cache host and the app store's address. This module
turns one :class:`DeviceSettings` into

- an Apple configuration profile (a property list; CMS-signed by
  :func:`sign_apple_profile` when the box has a signing certificate),
- an Android Management API policy fragment (ONC network and certificate,
  recommended global proxy), and
- a Windows custom configuration of OMA-URI settings (Microsoft Graph's
  ``windows10CustomConfiguration``, which Intune imports and other MDMs read).

Pure: no I/O; the caller reads the files (sync/device_export.py). Identifiers
are derived from the UAI so that importing a new export replaces the old
profile on devices instead of stacking a second one.
"""

from __future__ import annotations

import base64
import hashlib
import plistlib
import uuid
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote
from xml.etree import ElementTree

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

# Stable namespace for the profiles' UUIDs (uuid5 of the UAI and the payload's role).
_NAMESPACE: Final = uuid.UUID("5f2b7f3e-2c0a-4e55-9c1e-7072c3a90001")
WLAN_NAMESPACE: Final = "http://www.microsoft.com/networking/WLAN/profile/v1"
APPLE_MEDIA_TYPE: Final = "application/x-apple-aspen-config"
KINDS: Final = ("apple", "android", "windows")


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """What devices must know of this box (empty strings: not set, left out)."""

    uai: str
    school: str
    ca_der: bytes | None = None
    ssid: str = ""
    hidden: bool = False
    passphrase: str = ""  # WPA2-PSK; empty: an open network behind the captive portal
    pac_url: str = ""
    do_cache_host: str = ""
    store_url: str = ""


def _uuid(settings: DeviceSettings, role: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{settings.uai}/{role}")).upper()


def _identifier(settings: DeviceSettings, role: str) -> str:
    return f"fr.preau.{settings.uai.lower()}.{role}"


def _payload(settings: DeviceSettings, kind: str, role: str, name: str) -> dict[str, Any]:
    return {
        "PayloadType": kind,
        "PayloadVersion": 1,
        "PayloadIdentifier": _identifier(settings, role),
        "PayloadUUID": _uuid(settings, role),
        "PayloadDisplayName": name,
    }


def ca_name(ca_der: bytes) -> str:
    """Return the certificate's common name (or its whole subject) for display."""
    certificate = x509.load_der_x509_certificate(ca_der)
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def apple_profile(settings: DeviceSettings) -> bytes:
    """Return the configuration profile (XML property list) for iPad, iPhone and Mac."""
    payloads: list[dict[str, Any]] = []
    if settings.ca_der is not None:
        root = _payload(settings, "com.apple.security.root", "ca", ca_name(settings.ca_der))
        root["PayloadContent"] = settings.ca_der
        root["PayloadCertificateFileName"] = "preau-ca.cer"
        payloads.append(root)
    if settings.ssid:
        wifi = _payload(settings, "com.apple.wifi.managed", "wifi", f"Wi-Fi {settings.ssid}")
        wifi.update(
            SSID_STR=settings.ssid,
            HIDDEN_NETWORK=settings.hidden,
            AutoJoin=True,
            EncryptionType="WPA2" if settings.passphrase else "None",
            CaptiveBypass=False,  # keep captive detection: the charter page must show
        )
        if settings.passphrase:
            wifi["Password"] = settings.passphrase
        if settings.pac_url:
            wifi.update(ProxyType="Auto", ProxyPACURL=settings.pac_url)
            wifi["ProxyPACFallbackAllowed"] = True  # off the school network: go direct
        payloads.append(wifi)
    if settings.store_url:
        clip = _payload(settings, "com.apple.webClip.managed", "store", "Applications")
        clip.update(URL=settings.store_url, Label="Applications", IsRemovable=True)
        payloads.append(clip)
    profile = _payload(settings, "Configuration", "profile", f"Préau — {settings.school}")
    profile.update(
        PayloadContent=payloads,
        PayloadOrganization=settings.school,
        PayloadDescription="Réglages du boîtier Préau de l'établissement "
        f"{settings.school} ({settings.uai}) : certificat, Wi-Fi, mandataire, applications.",
        PayloadScope="System",
    )
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)


SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def sign_apple_profile(profile: bytes, certificate: x509.Certificate, key: SigningKey) -> bytes:
    """Return ``profile`` as a CMS SignedData (DER) devices show as « vérifié »."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(profile)
        .add_signer(certificate, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


def android_policy(settings: DeviceSettings) -> dict[str, Any]:
    """Return the Android Management API policy fields (ONC Wi-Fi and CA, global PAC)."""
    onc: dict[str, Any] = {"Type": "UnencryptedConfiguration"}
    if settings.ssid:
        wifi: dict[str, Any] = {
            "SSID": settings.ssid,
            "HiddenSSID": settings.hidden,
            "AutoConnect": True,
            "Security": "WPA-PSK" if settings.passphrase else "None",
        }
        if settings.passphrase:
            wifi["Passphrase"] = settings.passphrase
        network: dict[str, Any] = {
            "GUID": _uuid(settings, "wifi"),
            "Name": settings.ssid,
            "Type": "WiFi",
            "WiFi": wifi,
        }
        if settings.pac_url:
            network["ProxySettings"] = {"Type": "PAC", "PAC": settings.pac_url}
        onc["NetworkConfigurations"] = [network]
    if settings.ca_der is not None:
        onc["Certificates"] = [
            {
                "GUID": _uuid(settings, "ca"),
                "Type": "Authority",
                "X509": base64.b64encode(settings.ca_der).decode(),
                "TrustBits": ["Web"],
            }
        ]
    policy: dict[str, Any] = {}
    if len(onc) > 1:
        policy["openNetworkConfiguration"] = onc
    if settings.pac_url:
        policy["recommendedGlobalProxy"] = {"pacUri": settings.pac_url}
    return policy


def wlan_profile(settings: DeviceSettings) -> str:
    """Return the Windows WLAN profile (the WiFi CSP's WlanXml) of the school's network."""
    ElementTree.register_namespace("", WLAN_NAMESPACE)
    ns = f"{{{WLAN_NAMESPACE}}}"
    root = ElementTree.Element(f"{ns}WLANProfile")
    ElementTree.SubElement(root, f"{ns}name").text = settings.ssid
    ssid_config = ElementTree.SubElement(root, f"{ns}SSIDConfig")
    ssid = ElementTree.SubElement(ssid_config, f"{ns}SSID")
    ElementTree.SubElement(ssid, f"{ns}hex").text = settings.ssid.encode().hex().upper()
    ElementTree.SubElement(ssid, f"{ns}name").text = settings.ssid
    ElementTree.SubElement(ssid_config, f"{ns}nonBroadcast").text = str(settings.hidden).lower()
    ElementTree.SubElement(root, f"{ns}connectionType").text = "ESS"
    ElementTree.SubElement(root, f"{ns}connectionMode").text = "auto"
    security = ElementTree.SubElement(ElementTree.SubElement(root, f"{ns}MSM"), f"{ns}security")
    auth = ElementTree.SubElement(security, f"{ns}authEncryption")
    ElementTree.SubElement(auth, f"{ns}authentication").text = (
        "WPA2PSK" if settings.passphrase else "open"
    )
    ElementTree.SubElement(auth, f"{ns}encryption").text = "AES" if settings.passphrase else "none"
    ElementTree.SubElement(auth, f"{ns}useOneX").text = "false"
    if settings.passphrase:
        key = ElementTree.SubElement(security, f"{ns}sharedKey")
        ElementTree.SubElement(key, f"{ns}keyType").text = "passPhrase"
        ElementTree.SubElement(key, f"{ns}protected").text = "false"
        ElementTree.SubElement(key, f"{ns}keyMaterial").text = settings.passphrase
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=False)


def _oma(name: str, description: str, uri: str, value: str) -> dict[str, str]:
    return {
        "@odata.type": "#microsoft.graph.omaSettingString",
        "displayName": name,
        "description": description,
        "omaUri": uri,
        "value": value,
    }


def windows_policy(settings: DeviceSettings) -> dict[str, Any]:
    """Return the OMA-URI settings (Graph ``windows10CustomConfiguration``) for Windows."""
    settings_list: list[dict[str, str]] = []
    if settings.ca_der is not None:
        thumbprint = hashlib.sha1(settings.ca_der, usedforsecurity=False).hexdigest().upper()
        settings_list.append(
            _oma(
                "Autorité de certification Préau",
                "Certificat racine du boîtier (magasin Racine de l'ordinateur).",
                f"./Device/Vendor/MSFT/RootCATrustedCertificates/Root/{thumbprint}"
                "/EncodedCertificate",
                base64.b64encode(settings.ca_der).decode(),
            )
        )
    if settings.ssid:
        settings_list.append(
            _oma(
                f"Wi-Fi {settings.ssid}",
                "Profil WLAN du réseau de l'établissement (portail captif).",
                # The SSID is a node name: percent-encoded, as the WiFi CSP asks.
                f"./Device/Vendor/MSFT/WiFi/Profile/{quote(settings.ssid, safe='')}/WlanXml",
                wlan_profile(settings),
            )
        )
    if settings.pac_url:
        settings_list.append(
            _oma(
                "Configuration automatique du mandataire",
                "Fichier PAC du cache de mises à jour.",
                "./Vendor/MSFT/NetworkProxy/SetupScriptUrl",
                settings.pac_url,
            )
        )
    if settings.do_cache_host:
        settings_list.append(
            _oma(
                "Cache Delivery Optimization",
                "Les mises à jour Windows passent par le cache du boîtier.",
                "./Device/Vendor/MSFT/Policy/Config/DeliveryOptimization/DOCacheHost",
                settings.do_cache_host,
            )
        )
    return {
        "@odata.type": "#microsoft.graph.windows10CustomConfiguration",
        "displayName": f"Préau — {settings.school}",
        "description": f"Réglages du boîtier Préau ({settings.uai}).",
        "omaSettings": settings_list,
    }

"""The exports for the collectivité's MDM, each read back by its own format's rules (#14, scope 8).

Apple's profile is parsed with plistlib and checked against the keys and types
of Apple's Device Management reference (Configuration, com.apple.security.root,
com.apple.wifi.managed, com.apple.webClip.managed); its CMS signature is
verified by OpenSSL. The Android policy validates against a JSON Schema of the
Android Management API fields and ONC it uses; the Windows settings against
one of Microsoft Graph's ``windows10CustomConfiguration``, and the WLAN
profile they carry is parsed as XML (CARMO #6.4 app links, #7.37 certificates).
"""

from __future__ import annotations

import base64
import hashlib
import json
import plistlib
import shutil
import subprocess
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema
import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.config import PreauConfig
from appliance.core import Core
from sync.device_export import DeviceExportError, export_profile
from sync.device_profiles import WLAN_NAMESPACE, DeviceSettings, apple_profile
from tests.appliance.web.conftest import client, login_as
from tests.conftest import SchoolCA, make_config, run_preau, write_config

__all__ = ["client"]

PASSPHRASE = "Cour de récré 2026".encode("ascii", "replace").decode()  # ASCII, 18 characters
SSID = "Ecole-Eleves"

# Apple Device Management reference: the keys each payload may carry, and their types.
APPLE_KEYS: dict[str, dict[str, type]] = {
    "Configuration": {
        "PayloadContent": list, "PayloadDescription": str, "PayloadDisplayName": str,
        "PayloadIdentifier": str, "PayloadOrganization": str, "PayloadScope": str,
        "PayloadType": str, "PayloadUUID": str, "PayloadVersion": int,
    },
    "com.apple.security.root": {"PayloadContent": bytes, "PayloadCertificateFileName": str},
    "com.apple.wifi.managed": {
        "SSID_STR": str, "HIDDEN_NETWORK": bool, "AutoJoin": bool, "EncryptionType": str,
        "Password": str, "ProxyType": str, "ProxyPACURL": str, "ProxyPACFallbackAllowed": bool,
        "CaptiveBypass": bool,
    },
    "com.apple.webClip.managed": {"URL": str, "Label": str, "IsRemovable": bool},
}  # fmt: skip
PAYLOAD_KEYS = {
    "PayloadType": str, "PayloadVersion": int, "PayloadIdentifier": str, "PayloadUUID": str,
    "PayloadDisplayName": str, "PayloadDescription": str, "PayloadOrganization": str,
}  # fmt: skip
APPLE_REQUIRED = {
    "Configuration": {"PayloadContent", "PayloadIdentifier", "PayloadType", "PayloadUUID"},
    "com.apple.security.root": {"PayloadContent"},
    "com.apple.wifi.managed": {"SSID_STR", "EncryptionType"},
    "com.apple.webClip.managed": {"URL", "Label"},
}
APPLE_ENUMS = {
    "EncryptionType": {"WEP", "WPA", "WPA2", "WPA3", "Any", "None"},
    "ProxyType": {"None", "Manual", "Auto"},
}

ANDROID_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "openNetworkConfiguration": {
            "type": "object",
            "required": ["Type"],
            "additionalProperties": False,
            "properties": {
                "Type": {"const": "UnencryptedConfiguration"},
                "NetworkConfigurations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["GUID", "Name", "Type", "WiFi"],
                        "additionalProperties": False,
                        "properties": {
                            "GUID": {"type": "string", "minLength": 1},
                            "Name": {"type": "string"},
                            "Type": {"const": "WiFi"},
                            "ProxySettings": {
                                "type": "object",
                                "required": ["Type", "PAC"],
                                "properties": {
                                    "Type": {"enum": ["Direct", "Manual", "PAC", "WPAD"]},
                                    "PAC": {"type": "string", "format": "uri"},
                                },
                            },
                            "WiFi": {
                                "type": "object",
                                "required": ["SSID", "Security"],
                                "additionalProperties": False,
                                "properties": {
                                    "SSID": {"type": "string", "minLength": 1, "maxLength": 32},
                                    "HiddenSSID": {"type": "boolean"},
                                    "AutoConnect": {"type": "boolean"},
                                    "Security": {
                                        "enum": [
                                            "None",
                                            "WEP-PSK",
                                            "WEP-8021X",
                                            "WPA-PSK",
                                            "WPA-EAP",
                                        ]
                                    },
                                    "Passphrase": {
                                        "type": "string",
                                        "minLength": 8,
                                        "maxLength": 63,
                                    },
                                },
                                "if": {"properties": {"Security": {"const": "WPA-PSK"}}},
                                "then": {"required": ["Passphrase"]},
                                "else": {"not": {"required": ["Passphrase"]}},
                            },
                        },
                    },
                },
                "Certificates": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["GUID", "Type", "X509"],
                        "properties": {
                            "GUID": {"type": "string", "minLength": 1},
                            "Type": {"enum": ["Client", "Server", "Authority"]},
                            "X509": {"type": "string", "contentEncoding": "base64"},
                            "TrustBits": {"type": "array", "items": {"const": "Web"}},
                        },
                    },
                },
            },
        },
        "recommendedGlobalProxy": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"pacUri": {"type": "string", "format": "uri"}},
        },
    },
}

WINDOWS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["@odata.type", "displayName", "omaSettings"],
    "additionalProperties": False,
    "properties": {
        "@odata.type": {"const": "#microsoft.graph.windows10CustomConfiguration"},
        "displayName": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "omaSettings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["@odata.type", "displayName", "omaUri", "value"],
                "additionalProperties": False,
                "properties": {
                    "@odata.type": {"const": "#microsoft.graph.omaSettingString"},
                    "displayName": {"type": "string", "minLength": 1},
                    "description": {"type": "string"},
                    "omaUri": {"type": "string", "pattern": r"^\./(Device/|User/)?Vendor/MSFT/"},
                    "value": {"type": "string", "minLength": 1},
                },
            },
        },
    },
}


def check_apple(profile: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Check a profile against the reference's keys and types; return its payloads by type."""
    payloads = {"Configuration": profile} | {p["PayloadType"]: p for p in profile["PayloadContent"]}
    assert profile["PayloadType"] == "Configuration"
    for kind, payload in payloads.items():
        allowed = PAYLOAD_KEYS | APPLE_KEYS[kind]
        assert APPLE_REQUIRED[kind] <= payload.keys(), kind
        for key, value in payload.items():
            assert key in allowed, (kind, key)
            assert isinstance(value, allowed[key]), (kind, key, value)
            if key in APPLE_ENUMS:
                assert value in APPLE_ENUMS[key], (key, value)
        assert payload["PayloadVersion"] == 1
    uuids = [p["PayloadUUID"] for p in payloads.values()]
    identifiers = [p["PayloadIdentifier"] for p in payloads.values()]
    assert len(set(uuids)) == len(uuids)
    assert len(set(identifiers)) == len(identifiers)
    return payloads


def devices_config(tmp_path: Path, ca: SchoolCA, **devices: Any) -> PreauConfig:
    """Return a box with the cache (PAC), a DO host, the portal's chain and the given Wi-Fi."""
    chain = tmp_path / "chain.pem"
    chain.write_bytes(ca.server_cert.read_bytes() + ca.ca_cert.read_bytes())
    return make_config(
        tmp_path / "data",
        cache={"enabled": True, "listen": ["10.20.0.1:3142"]},
        portal={
            "tls_cert": str(chain),
            "tls_key": str(ca.server_key),
            "do_cache_host": "10.20.0.1",
        },
        sync={"devices": {"box_url": "https://preau.ecole.test", **devices}},
    )


def ca_der(ca: SchoolCA) -> bytes:
    """Return the test CA's certificate in DER."""
    certificate = x509.load_pem_x509_certificate(ca.ca_cert.read_bytes())
    return certificate.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "wifi.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def test_the_apple_profile_carries_ca_wifi_pac_and_store(
    tmp_path: Path, test_ca: SchoolCA, passphrase_file: Path
) -> None:
    config = devices_config(tmp_path, test_ca, ssid=SSID, passphrase_file=str(passphrase_file))
    export = export_profile(config, "apple", "")
    assert export.media_type == "application/x-apple-aspen-config"
    assert not export.signed
    assert export.filename.endswith(".mobileconfig")
    payloads = check_apple(plistlib.loads(export.body))
    # The root CA is the self-signed end of the portal's chain, not its server certificate.
    assert payloads["com.apple.security.root"]["PayloadContent"] == ca_der(test_ca)
    wifi = payloads["com.apple.wifi.managed"]
    assert wifi["SSID_STR"] == SSID
    assert wifi["EncryptionType"] == "WPA2"
    assert wifi["Password"] == PASSPHRASE
    assert wifi["CaptiveBypass"] is False  # the charter page must still show
    assert wifi["ProxyType"] == "Auto"
    assert wifi["ProxyPACURL"] == "http://10.20.0.1:3142/proxy.pac"
    assert payloads["com.apple.webClip.managed"]["URL"] == "https://preau.ecole.test/applis"
    # A second export replaces the first on devices: same identifiers and UUIDs.
    again = check_apple(plistlib.loads(export_profile(config, "apple", "").body))
    assert {k: p["PayloadUUID"] for k, p in again.items()} == {
        k: p["PayloadUUID"] for k, p in payloads.items()
    }


def test_an_open_network_leaves_the_key_out_everywhere(tmp_path: Path, test_ca: SchoolCA) -> None:
    config = devices_config(tmp_path, test_ca, ssid=SSID)
    apple = check_apple(plistlib.loads(export_profile(config, "apple", "").body))
    assert apple["com.apple.wifi.managed"]["EncryptionType"] == "None"
    assert "Password" not in apple["com.apple.wifi.managed"]
    android = json.loads(export_profile(config, "android", "").body)
    jsonschema.validate(android, ANDROID_SCHEMA)
    assert (
        android["openNetworkConfiguration"]["NetworkConfigurations"][0]["WiFi"]["Security"]
        == "None"
    )
    windows = json.loads(export_profile(config, "windows", "").body)
    jsonschema.validate(windows, WINDOWS_SCHEMA)
    wlan = next(s["value"] for s in windows["omaSettings"] if s["omaUri"].endswith("/WlanXml"))
    ns = {"w": WLAN_NAMESPACE}
    root = ElementTree.fromstring(wlan)
    assert (
        root.findtext("w:MSM/w:security/w:authEncryption/w:authentication", namespaces=ns) == "open"
    )
    assert root.find("w:MSM/w:security/w:sharedKey", ns) is None


def test_the_android_policy_validates_and_names_the_same_ca(
    tmp_path: Path, test_ca: SchoolCA, passphrase_file: Path
) -> None:
    config = devices_config(tmp_path, test_ca, ssid=SSID, passphrase_file=str(passphrase_file))
    export = export_profile(config, "android", "")
    policy = json.loads(export.body)
    jsonschema.validate(policy, ANDROID_SCHEMA)
    onc = policy["openNetworkConfiguration"]
    wifi = onc["NetworkConfigurations"][0]
    assert wifi["WiFi"] == {
        "SSID": SSID, "HiddenSSID": False, "AutoConnect": True, "Security": "WPA-PSK",
        "Passphrase": PASSPHRASE,
    }  # fmt: skip
    assert wifi["ProxySettings"] == {"Type": "PAC", "PAC": "http://10.20.0.1:3142/proxy.pac"}
    assert base64.b64decode(onc["Certificates"][0]["X509"]) == ca_der(test_ca)
    assert policy["recommendedGlobalProxy"] == {"pacUri": "http://10.20.0.1:3142/proxy.pac"}


def test_the_windows_settings_validate_and_carry_a_wlan_profile(
    tmp_path: Path, test_ca: SchoolCA, passphrase_file: Path
) -> None:
    config = devices_config(tmp_path, test_ca, ssid=SSID, passphrase_file=str(passphrase_file))
    windows = json.loads(export_profile(config, "windows", "").body)
    jsonschema.validate(windows, WINDOWS_SCHEMA)
    by_uri = {s["omaUri"]: s["value"] for s in windows["omaSettings"]}
    thumbprint = hashlib.sha1(ca_der(test_ca), usedforsecurity=False).hexdigest().upper()
    ca_uri = f"./Device/Vendor/MSFT/RootCATrustedCertificates/Root/{thumbprint}/EncodedCertificate"
    assert base64.b64decode(by_uri[ca_uri]) == ca_der(test_ca)
    assert by_uri["./Vendor/MSFT/NetworkProxy/SetupScriptUrl"].endswith(":3142/proxy.pac")
    do_uri = "./Device/Vendor/MSFT/Policy/Config/DeliveryOptimization/DOCacheHost"
    assert by_uri[do_uri] == "10.20.0.1"
    root = ElementTree.fromstring(by_uri[f"./Device/Vendor/MSFT/WiFi/Profile/{SSID}/WlanXml"])
    ns = {"w": WLAN_NAMESPACE}
    assert root.tag == f"{{{WLAN_NAMESPACE}}}WLANProfile"
    assert (
        bytes.fromhex(root.findtext("w:SSIDConfig/w:SSID/w:hex", namespaces=ns) or "")
        == SSID.encode()
    )
    security = "w:MSM/w:security/"
    assert root.findtext(security + "w:authEncryption/w:authentication", namespaces=ns) == "WPA2PSK"
    assert root.findtext(security + "w:authEncryption/w:encryption", namespaces=ns) == "AES"
    assert root.findtext(security + "w:sharedKey/w:keyMaterial", namespaces=ns) == PASSPHRASE


def test_a_signed_apple_profile_verifies_with_openssl(
    tmp_path: Path, test_ca: SchoolCA, passphrase_file: Path
) -> None:
    config = devices_config(
        tmp_path, test_ca, ssid=SSID, passphrase_file=str(passphrase_file),
        signing_cert=str(test_ca.server_cert), signing_key=str(test_ca.server_key),
    )  # fmt: skip
    export = export_profile(config, "apple", "")
    assert export.signed
    signed = tmp_path / "signed.mobileconfig"
    signed.write_bytes(export.body)
    content = tmp_path / "content.plist"
    openssl = shutil.which("openssl") or "/usr/bin/openssl"
    verified = subprocess.run(
        [openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signed),
         "-CAfile", str(test_ca.ca_cert), "-purpose", "any", "-out", str(content)],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    check_apple(plistlib.loads(content.read_bytes()))
    # Signed by another authority: OpenSSL refuses it.
    refused = subprocess.run(
        [openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signed),
         "-CAfile", str(test_ca.other_ca_cert), "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert refused.returncode != 0


@pytest.mark.parametrize(
    ("devices", "key"),
    [
        ({"ssid": SSID, "passphrase_file": "short"}, "sync.devices.passphrase_file"),
        ({"ssid": SSID, "passphrase_file": "missing"}, "sync.devices.passphrase_file"),
        ({"ca_cert": "not-pem"}, "sync.devices.ca_cert"),
        ({"signing_cert": "cert"}, "sync.devices.signing_key"),
        ({"signing_cert": "cert", "signing_key": "other-key"}, "sync.devices.signing_key"),
    ],
)
def test_a_bad_file_is_refused_naming_its_key(
    tmp_path: Path, test_ca: SchoolCA, devices: dict[str, str], key: str
) -> None:
    other_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    files = {
        "short": b"court\n",
        "not-pem": b"ceci n'est pas un certificat",
        "cert": test_ca.server_cert.read_bytes(),
        "other-key": other_key,  # a key, but not the certificate's
    }
    devices = dict(devices)
    paths = {"ssid": devices.pop("ssid")} if "ssid" in devices else {}
    for name, value in devices.items():
        if value in files:
            (tmp_path / value).write_bytes(files[value])
        paths[name] = str(tmp_path / value)  # "missing" is never written
    config = devices_config(tmp_path, test_ca, **paths)
    with pytest.raises(DeviceExportError, match=key.replace(".", r"\.")):
        export_profile(config, "apple", "")


def test_a_chain_without_a_root_exports_no_ca() -> None:
    settings = DeviceSettings(uai="0750001A", school="École", ssid=SSID)
    profile = check_apple(plistlib.loads(apple_profile(settings)))
    assert "com.apple.security.root" not in profile
    assert "com.apple.webClip.managed" not in profile


@pytest.fixture
def config(tmp_path: Path, test_ca: SchoolCA, passphrase_file: Path) -> PreauConfig:
    """Return the box the page and the API export from."""
    return devices_config(tmp_path, test_ca, ssid=SSID, passphrase_file=str(passphrase_file))


async def test_the_referent_downloads_from_the_page_and_the_api_others_cannot(
    client: TestClient[Any, Any], core: Core, tmp_path: Path
) -> None:
    await login_as(client, "prof")
    assert (await client.get("/synchro/appareils", allow_redirects=False)).status == 303
    assert (await client.get("/api/v1/sync/device-profiles/apple")).status == 403
    await login_as(client, "referent")
    page = await client.get("/synchro/appareils")
    assert page.status == 200
    text = (await page.text()).replace("&#39;", "'")
    assert SSID in text
    assert "Préau test CA" in text
    assert "Microsoft Intune" in text
    assert PASSPHRASE not in text  # shown in the files, never on the page
    download = await client.get("/synchro/appareils/apple")
    assert download.status == 200
    assert download.headers["Content-Type"] == "application/x-apple-aspen-config"
    assert download.headers["Cache-Control"] == "no-store"
    assert "attachment" in download.headers["Content-Disposition"]
    check_apple(plistlib.loads(await download.read()))
    assert (await client.get("/synchro/appareils/blackberry")).status == 404
    android = await client.get("/api/v1/sync/device-profiles/android")
    assert android.status == 200
    jsonschema.validate(await android.json(), ANDROID_SCHEMA)
    windows = await client.get("/api/v1/sync/device-profiles/windows")
    jsonschema.validate(await windows.json(), WINDOWS_SCHEMA)
    audit = await core.db.fetchall("SELECT action, target FROM audit ORDER BY id")
    assert [tuple(row) for row in audit if row["action"] == "sync.device_profile"] == [
        ("sync.device_profile", "apple"),
        ("sync.device_profile", "android"),
        ("sync.device_profile", "windows"),
    ]


def test_the_cli_writes_the_file_for_the_mdm_readable_only_by_root(
    tmp_path: Path, config: PreauConfig
) -> None:
    path = write_config(config, tmp_path / "box.toml")
    output = tmp_path / "ecole.mobileconfig"
    written = run_preau("sync", "profile", "apple", str(output), config_path=path)
    assert written.returncode == 0, written.stderr
    assert output.stat().st_mode & 0o777 == 0o600
    profile = check_apple(plistlib.loads(output.read_bytes()))
    assert "com.apple.webClip.managed" in profile  # box_url gives the store's address
    refused = run_preau("sync", "profile", "blackberry", "-", config_path=path)
    assert refused.returncode == 2
    assert "apple" in refused.stderr

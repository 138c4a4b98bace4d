"""The school's private app store: upload, check, assign, install over HTTPS links
(issue #6 scope 5; CARMO #6.4, #7.36, #7.37, #7.38)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import plistlib
import urllib.parse
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from appliance.core import Core
from appstore import packages as appstore
from tests.appliance.web.conftest import ClientFactory, api_login, seed_local_people
from tests.conftest import EICAR, Clamd, make_config, opened_core


def signed_apk() -> tuple[bytes, str]:
    """Return an APK-shaped zip signed the v1 way, and its certificate (base64 DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Collège test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    manifest = b"Signature-Version: 1.0\r\n\r\n"
    signature = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest)
        .add_signer(certificate, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature])
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00binary-xml")
        archive.writestr("classes.dex", b"dex\n035\x00" + bytes(2000))
        archive.writestr("META-INF/CERT.SF", manifest)
        archive.writestr("META-INF/CERT.EC", signature)
    der = certificate.public_bytes(serialization.Encoding.DER)
    return out.getvalue(), base64.b64encode(der).decode()


def ipa(bundle: str = "fr.college.cahier", version: str = "2.1") -> bytes:
    """Return an IPA-shaped zip whose Info.plist names ``bundle`` and ``version``."""
    info = {"CFBundleIdentifier": bundle, "CFBundleShortVersionString": version,
            "CFBundleDisplayName": "Cahier"}  # fmt: skip
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            "Payload/Cahier.app/Info.plist", plistlib.dumps(info, fmt=plistlib.FMT_BINARY)
        )
        archive.writestr("Payload/Cahier.app/Cahier", bytes(3000))
    return out.getvalue()


async def _upload(client: TestClient[Any, Any], token: str, body: bytes, **query: str) -> Any:
    return await client.post(
        "/api/v1/store/packages", params=query, data=body,
        headers={"X-CSRF-Token": token, "Content-Type": "application/octet-stream"},
    )  # fmt: skip


async def test_upload_assign_and_install(client: TestClient[Any, Any], core: Core) -> None:
    token = await api_login(client, "referent")
    apk, certificate = signed_apk()
    answer = await _upload(
        client, token, apk, platform="android", name="Cahier de textes",
        package_id="fr.college.cahier", version_name="2.1", version_code="21",
        filename="cahier-2.1.apk",
    )  # fmt: skip
    assert answer.status == 201, await answer.text()
    android = await answer.json()
    assert android["sha256"] == hashlib.sha256(apk).hexdigest()
    assert android["certificates"] == [certificate]
    assert "mdm_token" not in android
    # What the IPA says must be what is declared.
    wrong = await _upload(
        client, token, ipa(), platform="ios", name="Cahier", package_id="fr.autre.appli",
        version_name="2.1", filename="cahier.ipa",
    )  # fmt: skip
    assert wrong.status == 422
    assert "package_id" in (await wrong.json())["error"]["message"]
    for bad in ({"platform": "android", "filename": "cahier.ipa"}, {"platform": "amiga"}):
        params = {"platform": "ios", "name": "x", "package_id": "a.b", "version_name": "1",
                  "filename": "x.ipa"} | bad  # fmt: skip
        refused = await _upload(client, token, b"zip", **params)
        assert refused.status == 422
    iphone_app = ipa()  # once: a zip records the time it was written
    answer = await _upload(
        client, token, iphone_app, platform="ios", name="Cahier", package_id="fr.college.cahier",
        version_name="2.1", filename="cahier.ipa",
    )  # fmt: skip
    assert answer.status == 201, await answer.text()
    ios = await answer.json()
    headers = {"X-CSRF-Token": token}
    assert (await client.put(
        f"/api/v1/store/packages/{android['id']}/assignments",
        json={"assignments": [{"kind": "class", "target": "6A"}]}, headers=headers,
    )).status == 200  # fmt: skip
    assert (await client.put(
        f"/api/v1/store/packages/{ios['id']}/assignments",
        json={"assignments": [{"kind": "role", "target": "teacher"}]}, headers=headers,
    )).status == 200  # fmt: skip
    bad_role = await client.put(
        f"/api/v1/store/packages/{ios['id']}/assignments",
        json={"assignments": [{"kind": "role", "target": "director"}]},
        headers=headers,
    )
    assert bad_role.status == 422
    # Managed Google Play's definition of the externally hosted APK.
    play = await (await client.get(f"/api/v1/store/packages/{android['id']}/managed-play")).json()
    assert play["package_name"] == "fr.college.cahier"
    assert play["version_code"] == 21
    assert (
        base64.urlsafe_b64decode(play["file_sha256_base64"] + "=") == hashlib.sha256(apk).digest()
    )
    assert play["certificate_base64s"] == [certificate]
    hosted = await client.get(urllib.parse.urlsplit(play["externally_hosted_url"]).path)
    assert await hosted.read() == apk
    await client.delete("/api/v1/session", headers=headers)

    # A pupil of 6A sees the APK, not the IPA, and downloads it (with ranges).
    pupil = await api_login(client, "eleve")
    mine = await (await client.get("/api/v1/store/mine")).json()
    assert [p["package_id"] for p in mine["packages"]] == ["fr.college.cahier"]
    link = mine["packages"][0]["install"]
    whole = await client.get(link)
    assert whole.status == 200
    assert whole.headers["Content-Type"] == "application/vnd.android.package-archive"
    assert await whole.read() == apk
    part = await client.get(link, headers={"Range": "bytes=10-19"})
    assert part.status == 206
    assert await part.read() == apk[10:20]
    page = await (await client.get("/applis")).text()
    assert "Cahier de textes" in page
    assert "Installer" in page
    hidden = await client.get(f"/applis/paquet/{ios['id']}/cahier.ipa")
    assert hidden.status == 404
    await client.delete("/api/v1/session", headers={"X-CSRF-Token": pupil})

    # A teacher gets the IPA through itms-services and its manifest.
    await api_login(client, "prof")
    mine = await (await client.get("/api/v1/store/mine")).json()
    [teacher_app] = mine["packages"]
    install = teacher_app["install"]
    assert install.startswith("itms-services://?action=download-manifest&url=")
    manifest_url = urllib.parse.unquote(install.split("url=", 1)[1])
    manifest = plistlib.loads(
        await (await client.get(urllib.parse.urlsplit(manifest_url).path)).read()
    )
    item = manifest["items"][0]
    assert item["metadata"]["bundle-identifier"] == "fr.college.cahier"
    asset_url = item["assets"][0]["url"]
    assert await (await client.get(urllib.parse.urlsplit(asset_url).path)).read() == iphone_app
    # An unknown MDM token gives nothing.
    assert (await client.get("/applis/mdm/forged-token/cahier.ipa")).status == 404
    # Installs begun are counted per app for the site report (#14): the APK twice
    # (its MDM link, the pupil's download), not the ranged piece; the IPA once.
    broken = await client.get(urllib.parse.urlsplit(asset_url).path, headers={"Range": "bytes=x"})
    assert broken.status == 416
    assert sorted(await appstore.install_figures(core, 0.0)) == [
        ("preau_store_installs_total", 'app="fr.college.cahier",platform="android"', 2.0),
        ("preau_store_installs_total", 'app="fr.college.cahier",platform="ios"', 1.0),
    ]


async def test_the_referent_page_uploads_and_assigns(
    client: TestClient[Any, Any], core: Core
) -> None:
    await api_login(client, "referent")
    page = await (await client.get("/applis/gestion")).text()
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    form = {
        "platform": "ios", "name": "Cahier",
        "package_id": "fr.college.cahier", "version_name": "2.1", "version_code": "0",
        "description": "L'appli de la vie scolaire",
    }  # fmt: skip
    data = aiohttp.FormData()
    for key, value in form.items():
        data.add_field(key, value)
    data.add_field("package", ipa(), filename="cahier.ipa", content_type="application/octet-stream")
    action = page.split('action="/applis/gestion/envoi', 1)[1].split('"', 1)[0]
    stored = await client.post("/applis/gestion/envoi" + action.replace("&amp;", "&"), data=data)
    text = await stored.text()
    assert "Application enregistrée" in text
    [package] = await appstore.packages(core)
    assigned = await client.post(
        f"/applis/gestion/{package['id']}/affectations",
        data={"csrf_token": token, "school": "1", "class": "6A"},
    )
    assert "Affectations enregistrées." in await assigned.text()
    assert (await appstore.get_package(core, package["id"]) or {})["assignments"] == [
        {"kind": "class", "target": "6A"},
        {"kind": "school", "target": ""},
    ]
    # #16 scope 4: pickers, not keywords; a class that does not exist is refused.
    shown = await (await client.get("/applis/gestion")).text()
    assert 'name="class" value="6A" checked' in shown
    assert "role:pupil" not in shown
    unknown = await client.post(
        f"/applis/gestion/{package['id']}/affectations",
        data={"csrf_token": token, "class": "6Z"},
    )
    assert "aucune classe « 6Z »" in await unknown.text()
    # People are picked by name from the directory (a datalist), then kept as boxes.
    assert '<option value="eleve">' in shown
    nobody = await client.post(
        f"/applis/gestion/{package['id']}/affectations",
        data={"csrf_token": token, "school": "1", "class": "6A", "person_add": "personne"},
    )
    assert "personne inconnue « personne »" in await nobody.text()
    await client.post(
        f"/applis/gestion/{package['id']}/affectations",
        data={"csrf_token": token, "school": "1", "class": "6A", "person_add": "eleve"},
    )
    assert (
        'name="person" value="eleve" checked> Jo D. (6A)'
        in await (await client.get("/applis/gestion")).text()
    )
    assert len((await appstore.get_package(core, package["id"]) or {})["assignments"]) == 3
    path = appstore.package_files(core).path(package["sha256"])
    assert path.exists()
    removed = await client.post(
        f"/applis/gestion/{package['id']}/supprimer", data={"csrf_token": token}
    )
    assert "Application supprimée." in await removed.text()
    assert not path.exists()
    assert await appstore.packages(core) == []


async def test_an_infected_package_is_refused_and_nothing_kept(
    tmp_path: Path, clamd: Clamd, aiohttp_client: ClientFactory
) -> None:
    config = make_config(
        tmp_path / "data",
        productions={"antivirus": {"enabled": True, "clamd_socket": str(clamd.socket)}},
    )
    async with opened_core(config) as core:
        await seed_local_people(core)
        from appliance.web.app import create_app

        client = await aiohttp_client(create_app(core))
        token = await api_login(client, "referent")
        answer = await _upload(
            client, token, EICAR, platform="windows", name="Outil", package_id="outil",
            version_name="1", filename="outil.msi",
        )  # fmt: skip
        assert answer.status == 422
        assert "infecté" in (await answer.json())["error"]["message"]
        folder = appstore.package_files(core).folder
        assert list(folder.iterdir()) == []
        assert await appstore.packages(core) == []
        clean = await _upload(
            client, token, b"MSI" + bytes(5000), platform="windows", name="Outil",
            package_id="outil", version_name="1", filename="outil.msi",
        )  # fmt: skip
        assert clean.status == 201


@pytest.mark.parametrize("filename", ["../etc/passwd.apk", "a b.apk", ".hidden.apk"])
def test_declared_filenames_stay_plain(filename: str) -> None:
    declared = appstore.Declared("android", "x", "a.b", "1", filename)
    with pytest.raises(appstore.StoreError, match="filename"):
        declared.check()

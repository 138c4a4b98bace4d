"""The first-run page on the real app: the gate, the checks, the box it leaves (#15 scope 3)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance.config import load_config
from appliance.core import Core
from appliance.first_run import state
from appliance.first_run.certificates import TlsFiles, make_local_ca
from appliance.first_run.network import read_interfaces
from appliance.web.app import create_app
from tests.appliance.web.conftest import ClientFactory
from tests.conftest import (
    BASE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    LdapServer,
    SchoolCA,
    make_config,
    opened_core,
)

PAGE = "/premiere-mise-en-service"
PASSWORD = "Tableau-Noir-2026"


@pytest.fixture
async def pending(core: Core) -> str:
    """Open a first run, as the package's postinst does; return its install code."""
    code = await state.begin(core.db)
    assert code is not None
    return code


@pytest.fixture
async def client(core: Core, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    """Return a test client of the real admin app (no account yet)."""
    return await aiohttp_client(create_app(core))


def data_dir_file(name: str) -> Path:
    """Return a path the settings file names."""
    return Path(name)


def _interface() -> str:
    names = [interface.name for interface in read_interfaces()]
    assert names, "the test machine has a network interface besides lo"
    return names[0]


async def _form(client: TestClient[Any, Any], **fields: str) -> dict[str, str]:
    page = await client.get(PAGE)
    assert page.status == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token is not None
    return {
        "csrf_token": token.group(1),
        "school_uai": "0693456A",
        "school_name": "Collège Jean Moulin",
        "school_kind": "college",
        "login": "referente",
        "display_name": "Mme Référente",
        "password": PASSWORD,
        "password_again": PASSWORD,
        "admin_interface": _interface(),
        "certificate": "local",
        **fields,
    }


async def test_a_box_set_up_before_has_no_first_run(client: TestClient[Any, Any]) -> None:
    answer = await client.get("/", allow_redirects=False)
    assert answer.headers["Location"] == "/login"
    answer = await client.get(PAGE, allow_redirects=False)
    assert answer.headers["Location"] == "/login"


async def test_a_pending_box_serves_only_its_first_run_page(
    client: TestClient[Any, Any], pending: str
) -> None:
    for path in ("/", "/login", "/dashboard", "/synchro"):
        answer = await client.get(path, allow_redirects=False)
        assert answer.status == 303, path
        assert answer.headers["Location"] == PAGE
    answer = await client.post("/api/v1/session", json={"login": "x", "password": "y"})
    assert answer.status == 503
    assert (await answer.json())["error"]["code"] == "first_run_pending"
    assert (await client.get("/healthz")).status == 200
    page = await client.get(PAGE)
    text = await page.text()
    assert "Première mise en service" in text
    # The features' parts are in the one form: the pupils' Wi-Fi, the centre's token.
    assert 'name="pupils_interface"' in text
    assert 'name="sync_token"' in text
    # Each of the box's interfaces is offered, with its addresses.
    assert f'value="{_interface()}"' in text


async def test_a_wrong_code_or_a_bad_answer_writes_nothing_and_keeps_what_was_typed(
    client: TestClient[Any, Any], pending: str, core: Core
) -> None:
    form = await _form(client, code="AAAA-BBBB-CCCC", school_uai="75001")
    answer = await client.post(PAGE, data=form)
    assert answer.status == 422
    text = await answer.text()
    assert "pas le code affiché" in text
    assert "7 chiffres" in text
    assert 'value="Collège Jean Moulin"' in text  # kept
    assert PASSWORD not in text  # never sent back
    assert await state.pending(core.db)
    assert not (core.config.site.data_dir / "settings.json").exists()
    assert not (core.config.site.data_dir / "tls").exists()


async def test_the_first_run_sets_the_box_up_and_the_referent_logs_in(
    client: TestClient[Any, Any], pending: str, core: Core, tmp_path: Path
) -> None:
    interface = _interface()
    form = await _form(client, code=pending.lower().replace("-", " "))
    answer = await client.post(PAGE, data=form)
    text = await answer.text()
    assert answer.status == 200, text
    assert "Mise en service faite" in text
    assert not await state.pending(core.db)
    # What was set is in the settings file, and the config reads it over the local file.
    data_dir = core.config.site.data_dir
    settings = json.loads((data_dir / "settings.json").read_text())
    assert settings["site"]["admin_interface"] == interface
    local = tmp_path / "preau.toml"
    local.write_text(f'[site]\ndata_dir = "{data_dir}"\n')
    loaded = load_config(local)
    assert loaded.site.schools[0].uai == "0693456A"
    assert loaded.site.schools[0].kind == "college"
    assert loaded.web.tls_cert == data_dir / "tls/appareil.pem"
    # The root shown on the page is the one served for download.
    root = await client.get("/ac-racine.crt")
    assert root.status == 200
    pem = await root.read()
    fingerprint = x509.load_pem_x509_certificate(pem).fingerprint(
        x509.load_pem_x509_certificate(pem).signature_hash_algorithm  # type: ignore[arg-type]
    )
    assert ":".join(f"{b:02X}" for b in fingerprint) in text
    # The page carries it too: once it is sent, the web UI restarts on HTTPS.
    assert pem.decode() in text
    assert base64.b64encode(pem).decode() in text
    # The gate is open, the page gone, and the referent logs in.
    assert (await client.get(PAGE, allow_redirects=False)).headers["Location"] == "/login"
    login = await client.post("/api/v1/session", json={"login": "referente", "password": PASSWORD})
    assert login.status == 200
    assert (await login.json())["role"] == "referent"
    audit = await core.db.fetchall(
        "SELECT actor, action FROM audit WHERE action = 'first_run.done'"
    )
    assert [tuple(row) for row in audit] == [("referente", "first_run.done")]
    # Private keys are the service's only.
    assert (data_dir / "tls/appareil.key").stat().st_mode & 0o077 == 0
    assert (data_dir / "tls/ac-racine.key").stat().st_mode & 0o077 == 0


async def test_the_local_ca_s_certificate_is_trusted_through_its_root_for_the_box_only(
    tmp_path: Path,
) -> None:
    files = TlsFiles(tmp_path / "tls")
    now = dt.datetime.now(dt.UTC)
    make_local_ca(
        files, "Collège Jean Moulin", ["preau-box", "preau-box.local"], ["127.0.0.1"], now
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.chain, files.key)

    async def handshake(name: str) -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"ok")
            await writer.drain()
            writer.close()

        listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server)
        port = listener.sockets[0].getsockname()[1]
        client = ssl.create_default_context(cafile=str(files.root))
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client, server_hostname=name
            )
            assert await reader.read() == b"ok"
            writer.close()
        finally:
            listener.close()
            await listener.wait_closed()

    await handshake("preau-box")
    await handshake("127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake("www.ecole-directe.test")
    # The root is name-constrained: it cannot vouch for a name outside the box's.
    root = x509.load_pem_x509_certificate(files.root.read_bytes())
    constraints = root.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert x509.DNSName("preau-box") in (constraints.value.permitted_subtrees or [])
    key = serialization.load_pem_private_key(files.root_key.read_bytes(), None)
    assert key.key_size == 256  # type: ignore[union-attr]


async def test_a_pasted_certificate_must_match_its_key(
    client: TestClient[Any, Any], pending: str, core: Core, test_ca: SchoolCA
) -> None:
    other = TlsFiles(core.config.site.data_dir.parent / "other")
    make_local_ca(other, "x", ["x"], [], dt.datetime.now(dt.UTC))
    form = await _form(
        client,
        code=pending,
        certificate="upload",
        cert_chain=test_ca.server_cert.read_text(),
        cert_key=other.key.read_text(),
    )
    answer = await client.post(PAGE, data=form)
    assert answer.status == 422
    assert "ne correspond pas au certificat" in await answer.text()
    form = await _form(
        client,
        code=pending,
        certificate="upload",
        cert_chain=test_ca.server_cert.read_text(),
        cert_key=test_ca.server_key.read_text(),
    )
    answer = await client.post(PAGE, data=form)
    assert answer.status == 200, await answer.text()
    data_dir = core.config.site.data_dir
    assert (data_dir / "tls/appareil.pem").read_text().strip() == (
        test_ca.server_cert.read_text().strip()
    )
    assert not (data_dir / "tls/ac-racine.pem").exists()
    assert (await client.get("/ac-racine.crt")).status == 404


async def test_the_school_s_directory_is_bound_once_its_service_account_binds(
    client: TestClient[Any, Any],
    pending: str,
    core: Core,
    school_ldap: LdapServer,
    test_ca: SchoolCA,
) -> None:
    ldap_fields = {
        "ldap_uri": school_ldap.uri,
        "ldap_base_dn": BASE_DN,
        "ldap_bind_dn": SERVICE_DN,
        "ldap_ca": test_ca.ca_cert.read_text(),
    }
    form = await _form(client, code=pending, ldap_bind_password="not-the-password", **ldap_fields)
    answer = await client.post(PAGE, data=form)
    assert answer.status == 422
    assert "refuse ce compte de service" in await answer.text()
    assert await state.pending(core.db)
    assert not (core.config.site.data_dir / "settings.json").exists()
    form = await _form(client, code=pending, ldap_bind_password=SERVICE_PASSWORD, **ldap_fields)
    answer = await client.post(PAGE, data=form)
    assert answer.status == 200, await answer.text()
    settings = json.loads((core.config.site.data_dir / "settings.json").read_text())
    ldap = settings["identity"]["ldap"]
    assert (ldap["enabled"], ldap["uri"], ldap["base_dn"]) == (True, school_ldap.uri, BASE_DN)
    secret = data_dir_file(ldap["bind_password_file"])
    assert secret.read_text().strip() == SERVICE_PASSWORD
    assert secret.stat().st_mode & 0o077 == 0
    ca_file = data_dir_file(ldap["ca_file"])
    assert ca_file.read_text().strip() == test_ca.ca_cert.read_text().strip()
    # The referent's own account is local: it opens even with the directory down.
    school_ldap.stop()
    try:
        login = await client.post(
            "/api/v1/session", json={"login": "referente", "password": PASSWORD}
        )
        assert login.status == 200
    finally:
        school_ldap.start()


async def test_the_centre_s_token_must_be_for_this_school(
    client: TestClient[Any, Any], pending: str
) -> None:
    form = await _form(client, code=pending, sync_token="pas-un-jeton")
    answer = await client.post(PAGE, data=form)
    assert answer.status == 422
    assert "jeton" in await answer.text()
    form = await _form(client, code=pending, sync_restore="1")
    answer = await client.post(PAGE, data=form)
    assert answer.status == 422
    assert "la restauration demande le jeton" in await answer.text()


def test_the_interfaces_read_without_netlink_are_the_ones_the_kernel_reports() -> None:
    # psutil asks netlink (getifaddrs), which the web unit may not open.
    import psutil

    ours = {interface.name: interface for interface in read_interfaces()}
    theirs = {name: entries for name, entries in psutil.net_if_addrs().items() if name != "lo"}
    assert set(ours) == set(theirs)
    for name, entries in theirs.items():
        addresses = {entry.address.split("%")[0] for entry in entries if entry.netmask}
        assert {str(network.ip) for network in ours[name].networks} <= addresses
        macs = [entry.address for entry in entries if entry.family == psutil.AF_LINK]
        assert [ours[name].mac] == macs


async def test_once_set_up_the_web_ui_answers_on_the_admin_interface_s_addresses_only(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    # The web UI listens on every address; the address a request was sent to
    # decides (the trust boundary "pupils' networks ↔ admin").
    with_ipv4 = [i for i in read_interfaces() if any(n.version == 4 for n in i.networks)]
    assert with_ipv4, "the test machine has an interface with an IPv4 address besides lo"
    interface = with_ipv4[0]
    address = next(str(n.ip) for n in interface.networks if n.version == 4)
    for admin, expected in ((interface.name, 200), ("aucune0", 403)):
        config = make_config(tmp_path / admin, site={"admin_interface": admin})
        async with opened_core(config) as core:
            client = await aiohttp_client(create_app(core), server_kwargs={"host": "0.0.0.0"})
            port = client.server.port
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://{address}:{port}/login") as answer:
                    assert answer.status == expected, admin
                    if expected == 403:
                        assert "réseau d'administration" in await answer.text()
                async with session.get(f"http://{address}:{port}/healthz") as answer:
                    assert answer.status == 200
            # The box's own console always reaches it.
            assert (await client.get("/login")).status == 200
            await client.close()

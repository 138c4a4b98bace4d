"""Fixtures for the real components the tests start on loopback.

Why this file is long: each fixture starts a real program (slapd, clamd,
unbound, preau itself) with its configuration, and pytest finds shared
fixtures here; each block below is one component.

- ``test_ca``: a throw-away CA and a server certificate for 127.0.0.1;
- ``slapd_factory`` / ``school_ldap``: a real OpenLDAP ``slapd`` on a free
  loopback port, loaded with a small school (2 classes, 3 teachers,
  20 pupils, 1 referent), requiring TLS (StartTLS) for every operation;
- ``core``: an opened :class:`appliance.core.Core` on a temporary data dir;
- ``preau_factory``: ``preau run`` as a real subprocess with its own config;
- ``browser``: headless Debian Chromium driven by chromedriver (selenium),
  the fixture every UI test uses.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import traceback
import unicodedata
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.config import PreauConfig, build_config
from appliance.config_render import render_config
from appliance.core import Core
from appliance.demo import DEMO_PUPILS_5B, DEMO_PUPILS_6A

REPO = Path(__file__).resolve().parent.parent
PREAU = REPO / ".venv" / "bin" / "preau"
SCHOOL_UAI = "0750001A"
BASE_DN = "dc=college,dc=test"
SERVICE_DN = f"cn=preau,ou=services,{BASE_DN}"
SERVICE_PASSWORD = "service-secret-4-tests"


# -- Python 3.13's unclosed-connection warning, on every Python ---------------------


class _ClosedOnceConnection(sqlite3.Connection):
    """A connection that warns when collected unclosed, as Python 3.13 does.

    CI runs on Debian 12 (Python 3.11), which does not warn; Debian 13 does,
    and ``filterwarnings = error`` fails the test then (issue #11). The
    warning names where the connection was opened.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._opened_at = "".join(traceback.format_stack(limit=8)[:-2])
        self._closed = False

    def close(self) -> None:
        self._closed = True
        super().close()

    def __del__(self) -> None:
        if not self._closed:
            warnings.warn(
                f"unclosed database {self!r}, opened at:\n{self._opened_at}",
                ResourceWarning,
                stacklevel=1,
            )


_connect = sqlite3.connect


def _tracked_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    kwargs.setdefault("factory", _ClosedOnceConnection)
    connection: sqlite3.Connection = _connect(*args, **kwargs)
    return connection


sqlite3.connect = _tracked_connect  # type: ignore[assignment]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    """Wait until something accepts connections on host:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


# -- test CA -----------------------------------------------------------------------


@dataclass(frozen=True)
class SchoolCA:
    """Paths of a CA certificate and a server certificate/key it signed."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    other_ca_cert: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _self_signed_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # RFC 5280 §4.2.1.1–2: Python 3.13 (and phones) verify strictly and want both.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> SchoolCA:
    """Create a CA, a server certificate for 127.0.0.1 and the lab portal, another CA."""
    return make_school_ca(tmp_path_factory.mktemp("ca"))


def make_school_ca(folder: Path) -> SchoolCA:
    """Write a CA, a server certificate (127.0.0.1, the lab portal) and another CA."""
    ca_key, ca_cert = _self_signed_ca("Préau test CA")
    _, other_cert = _self_signed_ca("Some other CA")
    server_key = _key()
    now = dt.datetime.now(dt.UTC)
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                    # The captive portal's address in the network-namespace lab.
                    x509.IPAddress(ipaddress.ip_address("10.77.0.1")),
                    x509.DNSName("portail.test"),
                    # The CDN origin of the cache lab (tests/cache), for its HTTPS.
                    x509.DNSName("download.windowsupdate.com"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = SchoolCA(
        ca_cert=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        other_ca_cert=folder / "other-ca.pem",
    )
    paths.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.other_ca_cert.write_bytes(other_cert.public_bytes(serialization.Encoding.PEM))
    paths.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths.server_key.chmod(0o600)
    return paths


# -- slapd -------------------------------------------------------------------------


@dataclass
class SchoolAccount:
    """A directory account of the test school."""

    uid: str
    password: str
    role: str
    class_name: str = ""


@dataclass
class LdapServer:
    """A running slapd and what it holds."""

    uri: str
    port: int
    ldaps_port: int
    folder: Path
    process: subprocess.Popen[bytes] | None
    accounts: dict[str, SchoolAccount] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    netns: str = ""  # run inside this network namespace (a portal lab's appliance)

    def stop(self) -> None:
        """Stop slapd (the directory goes down)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def start(self) -> None:
        """(Re)start slapd on the same port and data."""
        prefix = ["/usr/sbin/ip", "netns", "exec", self.netns] if self.netns else []
        self.process = subprocess.Popen(
            [*prefix, *self.argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not self.netns:
            wait_for_port("127.0.0.1", self.port)
            return
        probe = f"import socket; socket.create_connection(('127.0.0.1', {self.port}), 0.2).close()"
        for _ in range(200):
            done = subprocess.run([*prefix, sys.executable, "-c", probe], capture_output=True)
            if done.returncode == 0:
                return
            time.sleep(0.05)
        raise TimeoutError(f"slapd did not start in {self.netns}")

    def ldapadd(self, ldif: str) -> None:
        """Add entries as the root DN (over StartTLS)."""
        self._ldap_tool("ldapadd", ldif)

    def ldapdelete(self, dn: str) -> None:
        """Delete one entry as the root DN."""
        self._ldap_tool("ldapdelete", dn + "\n")

    def _ldap_tool(self, tool: str, text: str) -> None:
        env = {**os.environ, "LDAPTLS_CACERT": str(self.folder / "ca.pem")}
        subprocess.run(
            [tool, "-x", "-ZZ", "-H", self.uri, "-D", f"cn=admin,{BASE_DN}", "-w", "root-secret"],
            input=text.encode(),
            check=True,
            env=env,
            capture_output=True,
        )


def ssha(password: str) -> str:
    """Return an RFC 2307 {SSHA} hash as slapd stores it."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - slapd's format
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


# The test school's pupils are the demo's, with ASCII logins.
_PUPIL_NAMES = [
    (unicodedata.normalize("NFKD", given).encode("ascii", "ignore").decode(), surname)
    for given, surname in (*DEMO_PUPILS_6A, *DEMO_PUPILS_5B)
]


def school_ldif(extra_pupils: int = 0) -> tuple[str, dict[str, SchoolAccount]]:
    """Return the LDIF of the test school and its accounts with their passwords.

    ``extra_pupils`` adds pupils ``eleve0001``… in class 4C (benchmarks).
    """
    accounts: dict[str, SchoolAccount] = {}
    entries = [
        f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\n"
        "dc: college\no: College test\n",
        f"dn: ou=people,{BASE_DN}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: ou=groups,{BASE_DN}\nobjectClass: organizationalUnit\nou: groups\n",
        f"dn: ou=services,{BASE_DN}\nobjectClass: organizationalUnit\nou: services\n",
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: preau\nuserPassword: {ssha(SERVICE_PASSWORD)}\n",
    ]

    def person(uid: str, given: str, surname: str, role: str, class_name: str = "") -> None:
        password = f"pw-{uid}-{secrets.token_hex(4)}"
        accounts[uid] = SchoolAccount(uid, password, role, class_name)
        text = (
            f"dn: uid={uid},ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
            f"cn: {given} {surname}\nsn: {surname}\ngivenName: {given}\n"
            f"displayName: {given} {surname}\nmail: {uid}@college.test\n"
            f"telephoneNumber: +33 1 23 45 67 89\nuserPassword: {ssha(password)}\n"
        )
        if class_name:
            text += f"departmentNumber: {class_name}\n"
        entries.append(text)

    person("cmartin", "Camille", "Martin", "referent")
    for uid, given, surname in (
        ("sdurand", "Sophie", "Durand"),
        ("mnguyen", "Minh", "Nguyen"),
        ("kbenali", "Karim", "Benali"),
    ):
        person(uid, given, surname, "teacher")
    for index, (given, surname) in enumerate(_PUPIL_NAMES):
        class_name = "6A" if index < 10 else "5B"
        person(f"{given[0].lower()}{surname.lower()}", given, surname, "pupil", class_name)
    for number in range(1, extra_pupils + 1):
        person(f"eleve{number:04d}", "Eleve", f"Numero{number}", "pupil", "4C")

    def group(cn: str, uids: list[str]) -> None:
        members = "".join(f"member: uid={uid},ou=people,{BASE_DN}\n" for uid in uids)
        entries.append(
            f"dn: cn={cn},ou=groups,{BASE_DN}\nobjectClass: groupOfNames\ncn: {cn}\n{members}"
        )

    by_role = {
        role: [a.uid for a in accounts.values() if a.role == role]
        for role in ("pupil", "teacher", "referent")
    }
    group("eleves", by_role["pupil"])
    group("enseignants", by_role["teacher"])
    group("referents", by_role["referent"])
    group("club-robotique", by_role["pupil"][:3] + by_role["teacher"][:1])
    return "\n".join(entries), accounts


def _slapd_config(folder: Path, ca: SchoolCA, port: int, *, size_limit: int = 0,
                  schema: str = "") -> str:  # fmt: skip
    limit = f"olcSizeLimit: {size_limit}\n" if size_limit else ""
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {folder}/slapd.pid
olcTLSCACertificateFile: {ca.ca_cert}
olcTLSCertificateFile: {ca.server_cert}
olcTLSCertificateKeyFile: {ca.server_key}
olcSecurity: tls=1

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
{schema}
dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE_DN}
olcDbDirectory: {folder}/data
olcDbMaxSize: 104857600
olcRootDN: cn=admin,{BASE_DN}
olcRootPW: root-secret
{limit}olcAccess: to attrs=userPassword by anonymous auth by self write by * none
olcAccess: to * by dn.exact="{SERVICE_DN}" read by self read by * none
"""


def start_slapd(
    folder: Path,
    ca: SchoolCA,
    data: str,
    accounts: dict[str, SchoolAccount],
    netns: str = "",
    *,
    size_limit: int = 0,
    schema: str = "",
    port: int = 0,
) -> LdapServer:
    """Start a real slapd holding ``data`` (LDIF), in ``netns`` if given.

    ``size_limit`` is the database's olcSizeLimit (slapd answers at most that
    many entries to a search that is not paged); ``schema`` is more schema
    LDIF (an Active-Directory-shaped one, say), included after the standard ones.
    ``port``: the one to listen on (a free one when 0).
    """
    (folder / "slapd.d").mkdir()
    (folder / "data").mkdir()
    shutil.copy(ca.ca_cert, folder / "ca.pem")
    port = port or free_port()
    config = folder / "config.ldif"
    config.write_text(_slapd_config(folder, ca, port, size_limit=size_limit, schema=schema))
    subprocess.run(
        ["/usr/sbin/slapadd", "-n", "0", "-F", str(folder / "slapd.d"), "-l", str(config)],
        check=True,
        capture_output=True,
    )
    (folder / "school.ldif").write_text(data)
    subprocess.run(
        [
            "/usr/sbin/slapadd",
            "-n",
            "1",
            "-F",
            str(folder / "slapd.d"),
            "-l",
            str(folder / "school.ldif"),
        ],
        check=True,
        capture_output=True,
    )
    uri = f"ldap://127.0.0.1:{port}"
    ldaps_port = free_port()
    server = LdapServer(
        uri=uri,
        port=port,
        ldaps_port=ldaps_port,
        folder=folder,
        process=None,
        accounts=accounts,
        netns=netns,
    )
    listeners = f"{uri}/ ldaps://127.0.0.1:{ldaps_port}/"
    server.argv = ["/usr/sbin/slapd", "-d", "0", "-h", listeners, "-F", str(folder / "slapd.d")]
    server.start()
    return server


@pytest.fixture(scope="session")
def slapd_factory(
    tmp_path_factory: pytest.TempPathFactory, test_ca: SchoolCA
) -> Iterator[Callable[..., LdapServer]]:
    """Start real slapd instances holding the test school; stop them at the end."""
    started: list[LdapServer] = []

    def start(netns: str = "") -> LdapServer:
        data, accounts = school_ldif()
        server = start_slapd(tmp_path_factory.mktemp("slapd"), test_ca, data, accounts, netns)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def school_ldap(slapd_factory: Callable[..., LdapServer]) -> LdapServer:
    """Return the shared slapd of the test school (never stopped by tests)."""
    return slapd_factory()


def ldap_section(server: LdapServer, ca: Path, folder: Path) -> dict[str, Any]:
    """Return the identity.ldap config section for a test slapd."""
    secret = folder / "ldap-service.secret"
    secret.write_text(SERVICE_PASSWORD + "\n")
    secret.chmod(0o600)
    return {
        "enabled": True,
        "uri": server.uri,
        "security": "starttls",
        "ca_file": str(ca),
        "bind_dn": SERVICE_DN,
        "bind_password_file": str(secret),
        "base_dn": BASE_DN,
        "group_base_dn": f"ou=groups,{BASE_DN}",
        "timeout_seconds": 2.0,
        "roles": {
            "pupil": [f"cn=eleves,ou=groups,{BASE_DN}"],
            "teacher": [f"cn=enseignants,ou=groups,{BASE_DN}"],
            "referent": [f"cn=referents,ou=groups,{BASE_DN}"],
        },
    }


# -- clamd ---------------------------------------------------------------------------

# The EICAR test file: every antivirus detects it; it does nothing.
EICAR: Final = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@dataclass
class Clamd:
    """A running clamd with a local test signature database."""

    socket: Path
    process: subprocess.Popen[bytes]
    temporary: Path


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    """Start a real clamd whose only signature is EICAR; its temp files stay in RAM."""
    folder = tmp_path_factory.mktemp("clamd")
    (folder / "db").mkdir()
    digest = hashlib.md5(EICAR, usedforsecurity=False).hexdigest()
    (folder / "db" / "test.hdb").write_text(f"{digest}:{len(EICAR)}:Eicar-Test-Signature\n")
    # A body signature too: EICAR anywhere in a file, not only as the whole file.
    (folder / "db" / "test.ndb").write_text(f"Eicar-Test-Signature:0:*:{EICAR.hex()}\n")
    temporary = folder / "tmp"
    temporary.mkdir()
    subprocess.run(
        ["/usr/bin/mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(temporary)],
        check=True,
    )
    socket_path = folder / "clamd.sock"
    (folder / "clamd.conf").write_text(
        f"LocalSocket {socket_path}\nDatabaseDirectory {folder / 'db'}\n"
        f"TemporaryDirectory {temporary}\nForeground yes\nLogFile {folder / 'clamd.log'}\n"
        f"PidFile {folder / 'clamd.pid'}\nStreamMaxLength 200M\n"
    )
    process = subprocess.Popen(
        ["/usr/sbin/clamd", "-c", str(folder / "clamd.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            if socket_path.exists():
                break
            time.sleep(0.05)
        else:
            raise TimeoutError((folder / "clamd.log").read_text(errors="replace")[-2000:])
        yield Clamd(socket_path, process, temporary)
    finally:
        process.terminate()
        process.wait(10)
        subprocess.run(["/usr/bin/umount", "-l", str(temporary)], check=False)


# -- unbound ------------------------------------------------------------------------


def unbound_config_text(
    folder: Path,
    *,
    interface: str = "127.0.0.1",
    port: int,
    allow: str = "127.0.0.0/8",
    zones: Sequence[str] = (),
    data: Sequence[str] = (),
) -> str:
    """Return an unbound.conf answering only ``data`` in ``zones`` (nothing recursive)."""
    lines = [
        "server:",
        f"  interface: {interface}",
        f"  port: {port}",
        "  do-ip6: no",
        "  do-daemonize: no",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{folder}"',
        f'  pidfile: "{folder}/unbound.pid"',
        "  use-syslog: no",
        '  logfile: ""',
        "  verbosity: 0",
        f"  access-control: {allow} allow",
        '  module-config: "iterator"',
        "  edns-buffer-size: 1232",
        '  local-zone: "." static',
    ]
    lines += [f'  local-zone: "{zone}" static' for zone in zones]
    lines += [f'  local-data: "{line}"' for line in data]
    return "\n".join([*lines, "remote-control:", "  control-enable: no", ""])


# -- config and core ---------------------------------------------------------------


def make_config(data_dir: Path, **sections: Any) -> PreauConfig:
    """Return a config for tests: fast hashing, free port, data in ``data_dir``."""
    raw: dict[str, Any] = {
        "site": {
            "name": "Collège test",
            "data_dir": str(data_dir),
            "schools": [{"uai": SCHOOL_UAI, "name": "Collège test"}],
        },
        "web": {"host": "127.0.0.1", "port": free_port()},
        "identity": {"local": {"hash_profile": "owasp-minimum"}},
        # Uploads are scanned by a real clamd in the tests about scanning
        # (tests/storage); elsewhere scanning is off.
        "productions": {"kdf_profile": "owasp-minimum", "antivirus": {"enabled": False}},
        # The filter answers on its own loopback port; nothing listens upstream
        # unless a test starts unbound (no traffic ever leaves the machine).
        "filter": {"listen": [f"127.0.0.1:{free_port()}"], "upstreams": ["127.0.0.1:9"]},
    }
    for name, values in sections.items():
        merged = raw.setdefault(name, {})
        _deep_update(merged, values)
    return build_config(raw)


def _deep_update(target: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


def write_config(config: PreauConfig, path: Path) -> Path:
    """Write a config file as `preau` reads it."""
    path.write_text(render_config(config, "test configuration"))
    return path


@pytest.fixture
def config(tmp_path: Path) -> PreauConfig:
    """Return a local-accounts config on a temporary data dir."""
    return make_config(tmp_path / "data")


@asynccontextmanager
async def opened_core(config: PreauConfig) -> AsyncIterator[Core]:
    """Open a core on ``config`` for the block, then close it."""
    instance = Core(config)
    await instance.async_open()
    try:
        yield instance
    finally:
        await instance.async_close()


@pytest.fixture
async def core(config: PreauConfig) -> AsyncIterator[Core]:
    """Return an opened core (no services running)."""
    async with opened_core(config) as instance:
        yield instance


# -- preau as a process ------------------------------------------------------------


@dataclass
class PreauProcess:
    """A `preau run` subprocess."""

    config_path: Path
    config: PreauConfig
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base_url(self) -> str:
        """Return the admin UI's URL."""
        return f"http://127.0.0.1:{self.config.web.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig`` and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def output(self) -> str:
        """Return what the process logged so far."""
        return self.log.read_text(errors="replace")


@pytest.fixture
def preau_factory(tmp_path: Path) -> Iterator[Callable[..., PreauProcess]]:
    """Start `preau run [services]` subprocesses; kill leftovers at the end."""
    started: list[PreauProcess] = []

    def start(
        config: PreauConfig, *services: str, wait_web: bool = True, name: str = "preau"
    ) -> PreauProcess:
        config_path = write_config(config, tmp_path / f"{name}.toml")
        log = tmp_path / f"{name}-{len(started)}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                [str(PREAU), "--config", str(config_path), "run", *services],
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        running = PreauProcess(config_path, config, process, log)
        started.append(running)
        if wait_web:
            try:
                wait_for_port("127.0.0.1", config.web.port, timeout=20)
            except TimeoutError:
                raise AssertionError(running.output()) from None
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
        running.process.wait()


# The shell's language picks the CLI's; the tests read French unless they ask.
_LANGUAGE_VARIABLES: Final = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def run_preau(
    *args: str,
    config_path: Path | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a `preau` command (in French unless ``env`` names a language) and return its result."""
    argv = [str(PREAU)]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    environment = {k: v for k, v in os.environ.items() if k not in _LANGUAGE_VARIABLES}
    environment.update(env or {})
    return subprocess.run(
        [*argv, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=environment,
    )


# -- headless Chromium ---------------------------------------------------------------


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Return a headless Chromium (Debian's) driven through chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=412,915",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--lang=fr-FR",
    ):
        options.add_argument(flag)
    service = Service(executable_path="/usr/bin/chromedriver", log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


SCREENSHOTS = REPO / "tests" / "screenshots"


def python() -> str:
    """Return the interpreter running the tests."""
    return sys.executable

"""The device certificate: a local CA made on the box, or the collectivité's certificate.

The local CA's root is what the referent downloads and pushes by MDM to the
school's devices, so it is **name-constrained** (RFC 5280 §4.2.1.10): it can
only vouch for the box's own names and for private addresses. A root pushed
to 600 pupils' tablets whose key leaked could not impersonate any site on the
internet. Keys are ECDSA P-256 (fast on a Raspberry Pi); the device
certificate lasts 825 days, the longest Apple's devices accept from a
private CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.atomic import write_atomic
from appliance.i18n import N_
from appliance.problems import Problem

CA_YEARS: Final = 10
DEVICE_DAYS: Final = 825
MAX_PEM_BYTES: Final = 64 * 1024
PRIVATE_NETWORKS: Final = tuple(
    ipaddress.ip_network(net)
    for net in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where the box keeps its certificates (under DATA_DIR/tls)."""

    folder: Path

    @property
    def root(self) -> Path:
        """Return the local CA's root certificate (the one the referent downloads)."""
        return self.folder / "ac-racine.pem"

    @property
    def root_key(self) -> Path:
        """Return the local CA's private key."""
        return self.folder / "ac-racine.key"

    @property
    def chain(self) -> Path:
        """Return the device certificate followed by its chain."""
        return self.folder / "appareil.pem"

    @property
    def key(self) -> Path:
        """Return the device certificate's private key."""
        return self.folder / "appareil.key"

    @property
    def directory_ca(self) -> Path:
        """Return the CA certificate that signed the school directory's (LDAP/AD)."""
        return self.folder / "annuaire-ac.pem"


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, school: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, school[:64]),
        ]
    )


def make_local_ca(
    files: TlsFiles,
    school: str,
    names: list[str],
    addresses: list[str],
    now: dt.datetime,
) -> None:
    """Make the local CA and the device certificate for ``names`` and ``addresses``."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(f"Préau — {school} — autorité locale", school)
    constraints = x509.NameConstraints(
        permitted_subtrees=[
            *(x509.DNSName(name) for name in names),
            *(x509.IPAddress(net) for net in PRIVATE_NETWORKS),
        ],
        excluded_subtrees=None,
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(constraints, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    device_key = ec.generate_private_key(ec.SECP256R1())
    device = issue_device(ca, ca_key, device_key, school, names, addresses, now)
    files.folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    write_atomic(files.root_key, _pem_key(ca_key), mode=0o600)
    write_atomic(files.key, _pem_key(device_key), mode=0o600)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    write_atomic(files.root, ca_pem, mode=0o644)
    write_atomic(files.chain, device.public_bytes(serialization.Encoding.PEM) + ca_pem, mode=0o644)


def issue_device(
    ca: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    device_key: ec.EllipticCurvePrivateKey,
    school: str,
    names: list[str],
    addresses: list[str],
    now: dt.datetime,
) -> x509.Certificate:
    """Return the device certificate for ``names`` and ``addresses``, signed by ``ca``."""
    alternative = [
        *(x509.DNSName(name) for name in names),
        *(x509.IPAddress(ipaddress.ip_address(address)) for address in addresses),
    ]
    return (
        x509.CertificateBuilder()
        .subject_name(_name(names[0], school))
        .issuer_name(ca.subject)
        .public_key(device_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=DEVICE_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def check_uploaded(chain_pem: str, key_pem: str, now: dt.datetime) -> Problem | None:
    """Say what is wrong with a certificate and key the referent pasted (None: usable)."""
    if len(chain_pem) > MAX_PEM_BYTES or len(key_pem) > MAX_PEM_BYTES:
        return Problem(N_("certificat ou clé trop long (64 Ko au plus)"))
    try:
        chain = x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError:
        return Problem(N_("le certificat n'est pas au format PEM (-----BEGIN CERTIFICATE-----)"))
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        return Problem(
            N_("la clé privée n'est pas au format PEM, ou elle est protégée par un mot de passe")
        )
    leaf = chain[0]
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        return Problem(N_("la clé privée ne correspond pas au certificat"))
    if leaf.not_valid_after_utc <= now:
        return Problem(
            N_("le certificat a expiré le %(day)s"), {"day": leaf.not_valid_after_utc.date()}
        )
    if leaf.not_valid_before_utc > now:
        return Problem(
            N_("le certificat n'est valable qu'à partir du %(day)s"),
            {"day": leaf.not_valid_before_utc.date()},
        )
    return None


def install_uploaded(files: TlsFiles, chain_pem: str, key_pem: str) -> None:
    """Keep the collectivité's certificate (already checked) as the device's."""
    files.folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    write_atomic(files.key, key_pem.strip() + "\n", mode=0o600)
    write_atomic(files.chain, chain_pem.strip() + "\n", mode=0o644)


def fingerprint(pem: bytes) -> str:
    """Return a certificate's SHA-256 fingerprint as people compare it (AB:CD:…)."""
    digest = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256())
    return ":".join(f"{byte:02X}" for byte in digest)

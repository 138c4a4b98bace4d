"""The school's private app store: packages, who may install them, and how.

The referent (or the collectivité's MDM, through the API) uploads a package
with its metadata. It is stored once, by SHA-256, after clamd scanned it;
what can be read from the package itself is (an IPA's Info.plist, an APK's
v1 signing certificates) and must agree with what was declared. Assignments
say who sees it: the whole school, a role, a class, a directory group or one
person. Devices install over HTTPS: a direct download for people logged in,
and unguessable links for MDMs (Managed Google Play's externally hosted
apps JSON, an iOS in-house manifest).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import plistlib
import re
import secrets
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from appliance.antivirus import ScannerUnavailable, scan_file
from appliance.atomic import fsync_directory
from appliance.i18n import N_
from appliance.problems import UserError
from appstore.config import StoreConfig
from storage.config import ProductionsConfig

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.identity.model import Person

Platform = Literal["android", "ios", "windows", "macos", "linux", "other"]
PLATFORMS: Final = ("android", "ios", "windows", "macos", "linux", "other")
EXTENSIONS: Final = {
    "android": (".apk",),
    "ios": (".ipa",),
    "windows": (".msi", ".msix", ".appx", ".exe"),
    "macos": (".pkg", ".dmg"),
    "linux": (".deb", ".appimage"),
    "other": (".zip", ".pdf"),
}
KINDS: Final = ("school", "role", "class", "group", "person")
ROLES: Final = ("pupil", "teacher", "staff", "referent")
_FILENAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")
_PACKAGE_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


class StoreError(UserError):
    """A package or an assignment that cannot be accepted; the message names the field."""


@dataclass(frozen=True, slots=True)
class Declared:
    """What the uploader says the package is."""

    platform: str
    name: str
    package_id: str
    version_name: str
    filename: str
    version_code: int = 0
    description: str = ""

    def check(self) -> None:
        """Raise StoreError naming the first field that is not acceptable."""
        if self.platform not in PLATFORMS:
            raise StoreError(
                N_("platform : l'une des valeurs %(known)s"), known=", ".join(PLATFORMS)
            )
        if not 1 <= len(self.name.strip()) <= 120:
            raise StoreError(N_("name : 1 à 120 caractères"))
        if not _PACKAGE_ID.fullmatch(self.package_id):
            raise StoreError(
                N_(
                    "package_id : lettres, chiffres, points et tirets "
                    "(l'identifiant de l'application)"
                )
            )
        if not 1 <= len(self.version_name) <= 64:
            raise StoreError(N_("version_name : 1 à 64 caractères"))
        if not _FILENAME.fullmatch(self.filename):
            raise StoreError(N_("filename : lettres, chiffres, points, tirets et « _ »"))
        if not self.filename.lower().endswith(EXTENSIONS[self.platform]):
            raise StoreError(
                N_("filename : un paquet %(platform)s se termine par %(endings)s"),
                platform=self.platform,
                endings=" / ".join(EXTENSIONS[self.platform]),
            )
        if not 0 <= self.version_code < 2**31:
            raise StoreError(N_("version_code : de 0 à 2^31-1"))
        if len(self.description) > 2000:
            raise StoreError(N_("description : 2 000 caractères au plus"))


@dataclass(frozen=True, slots=True)
class Inspected:
    """What the package itself says."""

    package_id: str = ""
    version_name: str = ""
    title: str = ""
    certificates: tuple[str, ...] = ()  # base64 DER (Android signing certificates)


def inspect_package(path: Path, platform: str) -> Inspected:
    """Read what a package tells about itself (blocking); raise StoreError if it is not one."""
    if platform == "ios":
        return _inspect_ipa(path)
    if platform == "android":
        return _inspect_apk(path)
    return Inspected()


def _inspect_ipa(path: Path) -> Inspected:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [
                n for n in archive.namelist()
                if re.fullmatch(r"Payload/[^/]+\.app/Info\.plist", n)
            ]  # fmt: skip
            if len(names) != 1:
                raise StoreError(N_("file : un IPA contient un seul Payload/NOM.app/Info.plist"))
            info = plistlib.loads(archive.read(names[0]))
    except (zipfile.BadZipFile, plistlib.InvalidFileException, OSError) as err:
        raise StoreError(N_("file : ce n'est pas un IPA (%(reason)s)"), reason=err) from err
    return Inspected(
        package_id=str(info.get("CFBundleIdentifier", "")),
        version_name=str(info.get("CFBundleShortVersionString", info.get("CFBundleVersion", ""))),
        title=str(info.get("CFBundleDisplayName", info.get("CFBundleName", ""))),
    )


def _inspect_apk(path: Path) -> Inspected:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "AndroidManifest.xml" not in names:
                raise StoreError(N_("file : un APK contient AndroidManifest.xml"))
            certificates: list[str] = []
            for name in names:
                if re.fullmatch(r"META-INF/[^/]+\.(RSA|DSA|EC)", name):
                    for certificate in pkcs7.load_der_pkcs7_certificates(archive.read(name)):
                        der = certificate.public_bytes(Encoding.DER)
                        certificates.append(base64.b64encode(der).decode())
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise StoreError(N_("file : ce n'est pas un APK (%(reason)s)"), reason=err) from err
    return Inspected(certificates=tuple(dict.fromkeys(certificates)))


def reconcile(declared: Declared, inspected: Inspected) -> None:
    """Refuse a package whose contents contradict its declaration."""
    if inspected.package_id and inspected.package_id != declared.package_id:
        raise StoreError(
            N_("package_id : le paquet dit « %(found)s », pas « %(declared)s »"),
            found=inspected.package_id,
            declared=declared.package_id,
        )
    if inspected.version_name and inspected.version_name != declared.version_name:
        raise StoreError(
            N_("version_name : le paquet dit « %(found)s », pas « %(declared)s »"),
            found=inspected.version_name,
            declared=declared.version_name,
        )


class PackageFiles:
    """Package files under ``folder``, named by SHA-256 (identical uploads are stored once)."""

    def __init__(self, folder: Path) -> None:
        """Remember where packages live."""
        self.folder = folder

    def path(self, sha256: str) -> Path:
        """Return a package's file."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise StoreError(N_("sha256 : 64 chiffres hexadécimaux"))
        return self.folder / sha256

    def temp_path(self) -> Path:
        """Return a fresh temporary name for an upload in progress."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o750)
        return self.folder / f".upload-{secrets.token_hex(8)}"

    def commit(self, temp: Path, sha256: str) -> Path:
        """Move a finished, fsynced upload to its name and fsync the folder."""
        final = self.path(sha256)
        temp.rename(final)
        fsync_directory(self.folder)
        return final

    def discard(self, temp: Path) -> None:
        """Remove an unfinished upload."""
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


async def receive(
    core: Core, files: PackageFiles, chunks: AsyncIterator[bytes], limit: int
) -> tuple[Path, str, int]:
    """Write an upload to a temporary file while hashing it; return (path, SHA-256, size)."""
    temp = files.temp_path()
    digest = hashlib.sha256()
    size = 0
    out = await core.executor.run(temp.open, "wb")
    try:
        async for chunk in chunks:
            size += len(chunk)
            _check_size(size, limit)
            digest.update(chunk)
            await core.executor.run(out.write, chunk)
        await core.executor.run(out.flush)
        await core.executor.run(_fsync, out)
    except BaseException:
        await core.executor.run(out.close)
        await core.executor.run(files.discard, temp)
        raise
    await core.executor.run(out.close)
    return temp, digest.hexdigest(), size


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise StoreError(N_("file : plus de %(most)s Mo"), most=limit // 1_000_000)


def _fsync(out: Any) -> None:
    os.fsync(out.fileno())


async def add_package(
    core: Core,
    declared: Declared,
    *,
    sha256: str,
    size: int,
    inspected: Inspected,
    actor: str,
    source: str,
) -> dict[str, Any]:
    """Record a stored package; return it."""
    token = secrets.token_urlsafe(24)
    async with core.db.write() as tx:
        package_id = await tx.insert(
            "INSERT INTO store_packages (platform, name, package_id, version_name,"
            " version_code, filename, size, sha256, certificates, description, mdm_token,"
            " uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                declared.platform, declared.name.strip(), declared.package_id,
                declared.version_name, declared.version_code, declared.filename, size, sha256,
                json.dumps(list(inspected.certificates)), declared.description, token, actor,
                time.time(),
            ),
        )  # fmt: skip
        await core.audit.record_in(
            tx, actor=actor, source=source, action="store.package.add", outcome="ok",
            target=f"{declared.package_id} {declared.version_name}", detail=sha256,
        )  # fmt: skip
    package = await get_package(core, package_id)
    assert package is not None  # noqa: S101 - inserted above
    return package


async def _load(core: Core, where: str = "", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Return the packages matching ``where``, newest first, with their assignments.

    Two queries however many packages: a school's store page is read at every
    visit.
    """
    rows = await core.db.fetchall(
        f"SELECT * FROM store_packages {where} ORDER BY uploaded_at DESC, id DESC",  # noqa: S608
        params,
    )
    found = {int(row["id"]): {**dict(row), "assignments": []} for row in rows}
    if not found:
        return []
    marks = ",".join("?" * len(found))
    assigned = await core.db.fetchall(
        f"SELECT package_id, kind, target FROM store_assignments"  # noqa: S608 - only marks
        f" WHERE package_id IN ({marks}) ORDER BY kind, target",
        tuple(found),
    )
    for row in assigned:
        found[int(row["package_id"])]["assignments"].append(
            {"kind": row["kind"], "target": row["target"]}
        )
    for package in found.values():
        package["certificates"] = json.loads(package["certificates"])
    return list(found.values())


async def get_package(core: Core, package_id: int) -> dict[str, Any] | None:
    """Return one package with its assignments."""
    found = await _load(core, "WHERE id = ?", (package_id,))
    return found[0] if found else None


async def package_by_token(core: Core, token: str) -> dict[str, Any] | None:
    """Return the package an MDM link names."""
    found = await _load(core, "WHERE mdm_token = ?", (token,))
    return found[0] if found else None


async def packages_by(core: Core, uploader: str) -> list[dict[str, Any]]:
    """Return the packages ``uploader`` added (the centre's, say), with their assignments."""
    return await _load(core, "WHERE uploaded_by = ?", (uploader,))


async def packages(core: Core) -> list[dict[str, Any]]:
    """Return every package, newest first."""
    return await _load(core)


async def remove_package(core: Core, package_id: int, *, actor: str, source: str) -> str | None:
    """Delete a package's record; return its SHA-256 if no other record uses the file."""
    package = await get_package(core, package_id)
    if package is None:
        return None
    async with core.db.write() as tx:
        await tx.execute("DELETE FROM store_assignments WHERE package_id = ?", (package_id,))
        await tx.execute("DELETE FROM store_packages WHERE id = ?", (package_id,))
        await core.audit.record_in(
            tx, actor=actor, source=source, action="store.package.remove", outcome="ok",
            target=f"{package['package_id']} {package['version_name']}",
        )  # fmt: skip
    still = await core.db.fetchone(
        "SELECT 1 FROM store_packages WHERE sha256 = ?", (package["sha256"],)
    )
    return None if still else str(package["sha256"])


async def delete_package(core: Core, package_id: int, *, actor: str, source: str) -> bool:
    """Delete a package, and its file once no other record uses it; return whether it was."""
    if await get_package(core, package_id) is None:
        return False
    unused = await remove_package(core, package_id, actor=actor, source=source)
    if unused:
        files = package_files(core)
        await core.executor.run(files.discard, files.path(unused))
    return True


async def set_assignments(
    core: Core,
    package_id: int,
    assignments: list[tuple[str, str]],
    *,
    actor: str,
    source: str,
    only_known: bool = True,
) -> None:
    """Replace who may install a package.

    A referent picks classes, groups and people the directory has
    (``only_known``); the centre names classes of hundreds of schools, which
    the directory may learn later, so its assignments are kept as named.
    """
    for kind, target in assignments:
        if kind not in KINDS:
            raise StoreError(N_("kind : l'une des valeurs %(known)s"), known=", ".join(KINDS))
        if kind == "school" and target:
            raise StoreError(N_("target : aucune pour tout l'établissement"))
        if kind == "role" and target not in ROLES:
            raise StoreError(N_("target : un rôle parmi %(known)s"), known=", ".join(ROLES))
        if kind in ("class", "group", "person") and not 1 <= len(target) <= 128:
            raise StoreError(N_("target : le nom (1 à 128 caractères)"))
        if not only_known:
            continue
        if kind == "class" and not await core.directory.has_class(target):
            raise StoreError(N_("target : aucune classe « %(name)s »"), name=target)
        if kind == "group" and target not in await core.directory.group_names():
            raise StoreError(N_("target : aucun groupe « %(name)s »"), name=target)
        if kind == "person" and await core.directory.person(target) is None:
            raise StoreError(N_("target : personne inconnue « %(name)s »"), name=target)
    async with core.db.write() as tx:
        await tx.execute("DELETE FROM store_assignments WHERE package_id = ?", (package_id,))
        await tx.executemany(
            "INSERT OR IGNORE INTO store_assignments (package_id, kind, target) VALUES (?, ?, ?)",
            [(package_id, kind, target) for kind, target in assignments],
        )
        await core.audit.record_in(
            tx, actor=actor, source=source, action="store.package.assign", outcome="ok",
            target=str(package_id), detail=", ".join(f"{k}:{t}" for k, t in assignments),
        )  # fmt: skip


async def assigned_to(core: Core, person: Person, role: str) -> list[dict[str, Any]]:
    """Return the packages ``person`` (acting as ``role``) may install."""
    rows = await core.db.fetchall(
        "SELECT g.name FROM groups g JOIN memberships m ON m.group_id = g.id"
        " WHERE m.person_id = ? AND g.kind = 'group'",
        (person.id,),
    )
    groups = {row["name"] for row in rows}

    def may_install(package: dict[str, Any]) -> bool:
        return any(
            a["kind"] == "school"
            or (a["kind"] == "role" and a["target"] == role)
            or (a["kind"] == "class" and person.class_name and a["target"] == person.class_name)
            or (a["kind"] == "group" and a["target"] in groups)
            or (a["kind"] == "person" and a["target"] == person.id)
            for a in package["assignments"]
        )

    return [p for p in await packages(core) if may_install(p)]


def managed_play_definition(package: dict[str, Any], url: str) -> dict[str, Any]:
    """Return Managed Google Play's definition of an externally hosted private app.

    The fields of ``ExternallyHostedApk``: Google shows the app, devices fetch
    the APK from ``url`` and check it against ``file_sha256_base64``.
    """
    return {
        "application_label": package["name"],
        "package_name": package["package_id"],
        "version_code": package["version_code"],
        "version_name": package["version_name"],
        "file_size": str(package["size"]),
        "file_sha256_base64": base64.urlsafe_b64encode(bytes.fromhex(package["sha256"]))
        .decode()
        .rstrip("="),
        "externally_hosted_url": url,
        "certificate_base64s": package["certificates"],
    }


def ios_manifest(package: dict[str, Any], url: str) -> bytes:
    """Return the in-house distribution manifest that ``itms-services`` links point to."""
    manifest = {
        "items": [
            {
                "assets": [{"kind": "software-package", "url": url}],
                "metadata": {
                    "bundle-identifier": package["package_id"],
                    "bundle-version": package["version_name"],
                    "kind": "software",
                    "title": package["name"],
                },
            }
        ]
    }
    return plistlib.dumps(manifest)


def package_files(core: Core) -> PackageFiles:
    """Return where this site keeps its packages."""
    return PackageFiles(
        core.config.section(StoreConfig).folder or core.config.site.data_dir / "store"
    )


async def _scan(core: Core, declared: Declared, path: Path, *, actor: str, source: str) -> None:
    """Refuse a package clamd finds infected, or cannot scan (never a silent accept)."""
    antivirus = core.config.section(ProductionsConfig).antivirus
    if not antivirus.enabled:
        return
    try:
        verdict = await core.executor.run(
            scan_file, antivirus.clamd_socket, path, antivirus.timeout_seconds
        )
    except ScannerUnavailable as err:
        raise StoreError(N_("file : l'antivirus ne répond pas ; réessayez plus tard")) from err
    if not verdict.clean:
        await core.audit.record(
            actor=actor, source=source, action="store.package.infected",
            outcome="refused", target=declared.filename, detail=verdict.signature,
        )  # fmt: skip
        raise StoreError(N_("file : infecté (%(signature)s)"), signature=verdict.signature)


async def upload(
    core: Core, declared: Declared, chunks: AsyncIterator[bytes], *, actor: str, source: str
) -> dict[str, Any]:
    """Check, store, inspect and scan an upload, then record it; raise StoreError if refused."""
    declared.check()
    files = package_files(core)
    limit = core.config.section(StoreConfig).max_package_mb * 1_000_000
    temp, sha256, size = await receive(core, files, chunks, limit)
    try:
        inspected = await core.executor.run(inspect_package, temp, declared.platform)
        reconcile(declared, inspected)
        await _scan(core, declared, temp, actor=actor, source=source)
        await core.executor.run(files.commit, temp, sha256)
    except BaseException:
        await core.executor.run(files.discard, temp)
        raise
    return await add_package(
        core, declared, sha256=sha256, size=size, inspected=inspected, actor=actor, source=source
    )


async def count_download(core: Core, package_id: int) -> None:
    """Count one fetch of a package from its start (a Range resuming it is not a new one)."""
    async with core.db.write() as tx:
        await tx.execute(
            "INSERT INTO store_downloads (package_id, count) VALUES (?, 1)"
            " ON CONFLICT (package_id) DO UPDATE SET count = count + 1",
            (package_id,),
        )


async def install_figures(core: Core, now: float) -> list[tuple[str, str, float]]:
    """Return installs begun per app and platform, for the site report (#14)."""
    rows = await core.db.fetchall(
        "SELECT p.package_id, p.platform, SUM(d.count) AS count FROM store_downloads d"
        " JOIN store_packages p ON p.id = d.package_id GROUP BY p.package_id, p.platform"
    )
    return [
        (
            "preau_store_installs_total",
            f'app="{str(row["package_id"]).lower()[:48]}",platform="{row["platform"]}"',
            float(row["count"]),
        )
        for row in rows
    ]

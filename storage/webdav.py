"""WebDAV for the pedagogical spaces: PCs, Macs and file apps mount their work.

WsgiDAV speaks the protocol (it passes the ``litmus`` suites); Préau gives
it a provider whose root is the logged-in person's own space, whose writes
are atomic (a temporary file, fsynced and renamed: an interrupted PUT
leaves the old version) and scanned by clamd before they are committed
(#8.12), and a domain controller that checks logins against the directory
(local accounts or LDAP), caching a success for a few minutes so a file
manager's burst of requests does not cost one Argon2id or LDAP bind each.

WSGI is synchronous: cheroot serves it from its own bounded thread pool, in
a thread the web service starts and stops; directory checks hop to the
service's event loop. Two shares: ``/pedagogique`` and ``/personnel``
(see ``webdav_personnel``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from wsgidav import util
from wsgidav.dav_error import HTTP_BAD_REQUEST, HTTP_CONFLICT, HTTP_FORBIDDEN, DAVError
from wsgidav.dc.base_dc import BaseDomainController
from wsgidav.fs_dav_provider import FileResource, FilesystemProvider, FolderResource
from wsgidav.wsgidav_app import WsgiDAVApp

from appliance import antivirus
from appliance.atomic import fsync_directory, write_atomic
from appliance.web.security import CONTENT_SECURITY_POLICY, SERVER_NAME, apply_headers
from appliance.web.throttle import LoginThrottle
from storage.paths import (
    PathRefused,
    PathThroughFile,
    clean_folder,
    incoming_folder,
    inside,
)
from storage.pedagogical import PedagogicalSpace, user_folder
from storage.quota import QuotaError, check_fits
from storage.webdav_personnel import (
    IDENTITY_KEY,
    USED_KEY,
    PersonnelProvider,
    PersonnelSettings,
    top_if_none,
)

_LOGGER = logging.getLogger(__name__)

AUTH_CACHE_SECONDS: Final = 300.0
REALM: Final = "Préau"
THREADS: Final = 8

PERSON_KEY: Final = "preau.person"
ROLE_KEY: Final = "preau.role"
HTTP_INSUFFICIENT_STORAGE: Final = 507


@dataclass(frozen=True, slots=True)
class DavPerson:
    """Who a WebDAV login is: the person's id and role, PERSONNEL's key if it opened."""

    id: str
    role: str
    identity: str = ""


Authenticate = Callable[[str, str], DavPerson | None]


class _Settings:
    """What the provider needs at request time (set once by the server)."""

    def __init__(
        self,
        root: Path,
        clamd_socket: str | None,
        scan_wait: float,
        quota: Callable[[str], int],
        record_usage: Callable[[str], None],
    ) -> None:
        self.root = root
        self.clamd_socket = clamd_socket
        self.scan_wait = scan_wait
        self.quota = quota  # role → bytes
        self.record_usage = record_usage  # person → (recount and store the space's use)


class PedagogicalFile(FileResource):  # type: ignore[misc]
    """A file of the pedagogical space; a new one exists only once written."""

    def __init__(self, path: str, environ: dict[str, Any], file_path: str) -> None:
        """Bind the resource; a file not written yet has no stat."""
        self._target = Path(file_path)
        self.file_stat: os.stat_result | None
        if self._target.exists():
            super().__init__(path, environ, file_path)
        else:
            # DAVNonCollection's constructor, without FileResource's stat of a missing file.
            super(FileResource, self).__init__(path, environ)
            self._file_path = file_path
            self.name = self._target.name
            self.file_stat = None
        self._temp: Path | None = None

    def _settings(self) -> _Settings:
        settings: _Settings = self.provider.settings
        return settings

    def get_content_length(self) -> int | None:
        """Return the size (None before the first write)."""
        return None if self.file_stat is None else int(super().get_content_length())

    def get_etag(self) -> str | None:
        """Return the etag (None before the first write)."""
        return str(super().get_etag()) if self._target.exists() else None

    def begin_write(self, *, content_type: str | None = None) -> Any:
        """Write into a temporary file next to the target."""
        del content_type
        incoming = incoming_folder(_home(self.environ, self._settings()))
        incoming.mkdir(parents=True, exist_ok=True, mode=0o750)
        self._temp = incoming / f"{secrets.token_hex(8)}.part"
        return self._temp.open("wb")  # WsgiDAV writes, then closes it

    def end_write(self, *, with_errors: bool) -> None:
        """Scan, then replace the old version in one rename (or leave nothing)."""
        temp, self._temp = self._temp, None
        if temp is None:
            return
        try:
            if with_errors:
                raise DAVError(HTTP_FORBIDDEN, "upload interrupted")
            settings = self._settings()
            if settings.clamd_socket:
                try:
                    verdict = antivirus.scan_file(settings.clamd_socket, temp, settings.scan_wait)
                except antivirus.ScannerUnavailable as err:
                    raise DAVError(HTTP_FORBIDDEN, "antivirus unavailable") from err
                if not verdict.clean:
                    _LOGGER.warning("WebDAV upload refused: clamd found %s", verdict.signature)
                    raise DAVError(HTTP_FORBIDDEN, f"infected: {verdict.signature}")
            self._check_quota(settings, temp)
            with temp.open("rb") as written:
                os.fsync(written.fileno())
            temp.rename(self._target)
            fsync_directory(self._target.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        self.file_stat = self._target.stat()
        settings.record_usage(self.environ[PERSON_KEY])

    def _check_quota(self, settings: _Settings, temp: Path) -> None:
        """Refuse a file that would take the space past its capacity (#8.8)."""
        _check_room(self.environ, settings, temp.stat().st_size, self._target)

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        """Copy (within the quota, atomically) or move a file; count the use again."""
        settings = self._settings()
        destination = Path(self.provider._loc_to_file_path(dest_path, self.environ))
        if is_move:
            super().copy_move_single(dest_path, is_move=True)
        else:
            _check_room(self.environ, settings, self._target.stat().st_size, destination)
            incoming = incoming_folder(_home(self.environ, settings))
            incoming.mkdir(parents=True, exist_ok=True, mode=0o750)
            temp = incoming / f"{secrets.token_hex(8)}.part"
            try:
                shutil.copy2(self._target, temp)
                with temp.open("rb") as written:
                    os.fsync(written.fileno())
                temp.rename(destination)
                fsync_directory(destination.parent)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
            manager = self.provider.prop_manager
            if manager:
                copied = self.provider.get_resource_inst(dest_path, self.environ)
                manager.copy_properties(self.get_ref_url(), copied.get_ref_url(), self.environ)
        settings.record_usage(self.environ[PERSON_KEY])

    def delete(self) -> None:
        """Delete the file; count the use again."""
        super().delete()
        self._settings().record_usage(self.environ[PERSON_KEY])


def _home(environ: dict[str, Any], settings: _Settings) -> Path:
    return user_folder(settings.root, environ[PERSON_KEY])


def _check_room(environ: dict[str, Any], settings: _Settings, size: int, target: Path) -> None:
    """Refuse ``size`` more bytes at ``target`` past the person's capacity (507)."""
    person, role = environ[PERSON_KEY], environ[ROLE_KEY]
    used, _ = PedagogicalSpace(settings.root, person).usage()
    replaced = target.stat().st_size if target.is_file() else 0
    try:
        check_fits(size, settings.quota(role), used, replaced=replaced)
    except QuotaError:
        raise DAVError(HTTP_INSUFFICIENT_STORAGE, "quota: the space is full") from None


class PedagogicalFolder(FolderResource):  # type: ignore[misc]
    """A folder of the pedagogical space."""

    def get_used_bytes(self) -> int:
        """Return what the person's space takes (RFC 4331), not the disk's use.

        Walked once per request: a PROPFIND asks it of every folder it lists,
        and twice each (to name the property, then to give its value).
        """
        used = self.environ.get(USED_KEY)
        if used is None:
            used, _ = PedagogicalSpace(
                self.provider.settings.root, self.environ[PERSON_KEY]
            ).usage()
            self.environ[USED_KEY] = used
        return int(used)

    def get_available_bytes(self) -> int:
        """Return what is left of the person's capacity (RFC 4331)."""
        settings: _Settings = self.provider.settings
        return max(0, settings.quota(self.environ[ROLE_KEY]) - self.get_used_bytes())

    def delete(self) -> None:
        """Delete the folder and all it holds; count the use again."""
        super().delete()
        self.provider.settings.record_usage(self.environ[PERSON_KEY])

    def get_member(self, name: str) -> Any:
        """Return a member with Préau's resource classes."""
        return _resource(util.join_uri(self.path, name), self.environ, Path(self._file_path) / name)

    def create_empty_resource(self, name: str) -> PedagogicalFile:
        """Return a file that will exist once written (nothing is created now)."""
        target = Path(self.provider._loc_to_file_path(util.join_uri(self.path, name), self.environ))
        if self.environ.get("REQUEST_METHOD") == "LOCK":
            # A LOCK on an unmapped URL reserves the name with an empty file (RFC 4918 §7.3).
            write_atomic(target, b"", mode=0o640)
        return PedagogicalFile(util.join_uri(self.path, name), self.environ, str(target))


def _resource(path: str, environ: dict[str, Any], file_path: Path) -> Any:
    if file_path.is_symlink():
        raise DAVError(HTTP_FORBIDDEN, "links are not served")
    if file_path.is_dir():
        return PedagogicalFolder(path, environ, str(file_path))
    if file_path.is_file():
        return PedagogicalFile(path, environ, str(file_path))
    return None


class PedagogicalProvider(FilesystemProvider):  # type: ignore[misc]
    """Each person sees their own pedagogical space at the root."""

    def __init__(self, settings: _Settings) -> None:
        """Serve the spaces under ``settings.root``."""
        settings.root.mkdir(parents=True, exist_ok=True)
        super().__init__(str(settings.root), fs_opts={})
        self.settings = settings

    def _loc_to_file_path(self, path: str, environ: dict[str, Any] | None = None) -> str:
        user = (environ or {}).get(PERSON_KEY) or ""
        if not user:
            raise DAVError(HTTP_FORBIDDEN, "not logged in")
        home = user_folder(self.settings.root, user)
        home.mkdir(parents=True, exist_ok=True)
        try:
            # The one path check of every entry point (storage.paths).
            return str(inside(home, clean_folder(path)))
        except PathThroughFile as err:
            raise DAVError(HTTP_CONFLICT, str(err)) from None
        except PathRefused as err:
            raise DAVError(HTTP_BAD_REQUEST, str(err)) from None

    def get_resource_inst(self, path: str | None, environ: dict[str, Any]) -> Any:
        """Return the resource at ``path`` in the person's space, or None."""
        return _resource(
            top_if_none(path), environ, Path(self._loc_to_file_path(top_if_none(path), environ))
        )


class DirectoryLogins(BaseDomainController):  # type: ignore[misc]
    """Basic auth checked against Préau's directory, successes cached briefly."""

    def __init__(self, wsgidav_app: Any, config: dict[str, Any]) -> None:
        """Take the login check Préau put in the WsgiDAV config."""
        super().__init__(wsgidav_app, config)
        self._check: Authenticate = config["preau"]["authenticate"]
        self._throttle: LoginThrottle = config["preau"]["throttle"]
        self._cache: dict[tuple[str, str], tuple[float, DavPerson]] = {}
        self._lock = threading.Lock()

    def get_domain_realm(self, path_info: str, environ: dict[str, Any] | None) -> str:
        """One realm for the whole server."""
        return REALM

    def require_authentication(self, realm: str, environ: dict[str, Any] | None) -> bool:
        """Everything needs a login."""
        return True

    def supports_http_digest_auth(self) -> bool:
        """Basic over TLS only: digest would need the password in clear on the box."""
        return False

    def basic_auth_user(
        self, realm: str, user_name: str, password: str, environ: dict[str, Any]
    ) -> bool:
        """Check a login (cached for a few minutes after a success)."""
        key = (user_name, hashlib.sha256(f"{user_name}\0{password}".encode()).hexdigest())
        now = time.monotonic()
        with self._lock:
            until, cached = self._cache.get(key, (0.0, None))
        person = cached if until > now else None
        if person is None:
            # The same throttle as the web login: per source, per account and source
            # with growing delays, per account (no lockout: only slows guessing).
            account, source = user_name.casefold(), environ.get("REMOTE_ADDR", "")
            with self._lock:
                decision = self._throttle.check(account, source, now, known_device=False)
            if not decision.allowed:
                return False
            person = self._check(user_name, password)
            with self._lock:
                if person is None:
                    self._throttle.record_failure(account, source, now)
                else:
                    self._throttle.record_success(account, source)
            if person is None:
                return False
            with self._lock:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                self._cache[key] = (now + AUTH_CACHE_SECONDS, person)
        environ[PERSON_KEY] = person.id
        environ[ROLE_KEY] = person.role
        environ[IDENTITY_KEY] = person.identity
        environ["wsgidav.auth.roles"] = ("editor",)
        return True


_EMPTY_SUFFIX_RANGE: Final = re.compile(r"bytes=\s*-0+\s*(,\s*-0+\s*)*")
_GENERIC_ERROR: Final = "Erreur interne du serveur WebDAV : rien n'a été modifié.\n".encode()


class _Guard:
    """WSGI wrapper: security headers on every answer, no banner, no exception text.

    WsgiDAV answers an unexpected exception with a 500 page naming it (an
    ``OSError`` with its errno, a path): that page is replaced by a generic
    one (the exception is in the log). Its ``Server`` banner goes too.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app

    @staticmethod
    def _secured(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Return ``headers`` without a banner, with the security headers it lacks."""
        given = {name.lower() for name, _ in headers}
        extra: dict[str, str] = {"Content-Security-Policy": CONTENT_SECURITY_POLICY}
        apply_headers(extra, static=True)
        kept = [(n, v) for n, v in headers if n.lower() != "server"]
        return kept + [(n, v) for n, v in extra.items() if n.lower() not in given]

    def _refuse(self, start_response: Callable[..., Any], status: str) -> Iterator[bytes]:
        plain = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "0")]
        start_response(status, self._secured(plain))
        yield b""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve one request through WsgiDAV."""
        if _EMPTY_SUFFIX_RANGE.fullmatch(environ.get("HTTP_RANGE", "")):
            # "bytes=-0" asks for no byte at all: WsgiDAV answers 206 "bytes 6-5/6".
            yield from self._refuse(start_response, "416 Range Not Satisfiable")
            return
        failed = False

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal failed
            if status.startswith("500"):
                failed = True
                headers = [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(_GENERIC_ERROR))),
                ]
            return start_response(status, self._secured(headers), exc_info)

        result = self._app(environ, start)
        try:
            for chunk in result:
                if failed:
                    break
                yield chunk
            if failed:
                yield _GENERIC_ERROR
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()


class WebDavServer:
    """cheroot serving WsgiDAV in a thread of its own, started and stopped explicitly."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        root: Path,
        authenticate: Authenticate,
        clamd_socket: str | None,
        scan_wait: float,
        quota: Callable[[str], int],
        record_usage: Callable[[str], None],
        personnel: PersonnelSettings,
        throttle: LoginThrottle,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """Prepare the WsgiDAV application and the server."""
        settings = _Settings(root, clamd_socket, scan_wait, quota, record_usage)
        config = {
            "host": host,
            "port": port,
            "provider_mapping": {
                "/pedagogique": PedagogicalProvider(settings),
                # WsgiDAV matches share names in lower case.
                "/personnel": PersonnelProvider(personnel),
            },
            "http_authenticator": {
                "domain_controller": DirectoryLogins,
                "accept_basic": True,
                "accept_digest": False,
                "default_to_digest": False,
                "trusted_auth_header": None,
            },
            # The web app's throttle: failures count once, whichever door they come by.
            "preau": {"authenticate": authenticate, "throttle": throttle},
            "lock_storage": True,
            "property_manager": True,
            "dir_browser": {"enable": False},
            "verbose": 0,
            "logging": {"enable": False},
        }
        self._server = wsgi.Server((host, port), _Guard(WsgiDAVApp(config)), numthreads=THREADS)
        self._server.version = SERVER_NAME
        if tls is not None:
            self._server.ssl_adapter = BuiltinSSLAdapter(str(tls[0]), str(tls[1]))
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen and serve in a thread."""
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, name="preau-webdav", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.stop()
        if self._thread is not None:
            self._thread.join(10)


def directory_check(
    authenticate: Callable[[str, str], Any],
    open_identity: Callable[[str, str], Any],
    loop: asyncio.AbstractEventLoop,
) -> Authenticate:
    """Return a thread-side login check running the directory (and PERSONNEL) on ``loop``."""

    def check(login: str, password: str) -> DavPerson | None:
        if not login or not password:
            return None
        future = asyncio.run_coroutine_threadsafe(authenticate(login, password), loop)
        outcome = future.result(timeout=30)
        if outcome.person is None or outcome.role is None:
            return None
        person = str(outcome.person.id)
        identity = asyncio.run_coroutine_threadsafe(open_identity(person, password), loop)
        return DavPerson(person, str(outcome.role), identity.result(timeout=30) or "")

    return check

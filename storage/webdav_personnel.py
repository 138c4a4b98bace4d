"""WebDAV for PERSONNEL: the encrypted index as a folder tree, files streamed.

The person's identity comes from the login (opened with the password, as at
a web login, and kept in memory with the login cache); without it the
space answers 423 Locked. Reads decrypt as they stream; writes encrypt as
they stream into a temporary blob, are scanned, then committed with the
index in one locked step. Names, folders, sizes and dates never reach the
disk in clear. Dead properties and locks live in WsgiDAV's in-memory
managers, so no property a client sets is written in clear either.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import socket
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

from wsgidav import util
from wsgidav.dav_error import HTTP_BAD_REQUEST, HTTP_CONFLICT, HTTP_FORBIDDEN, HTTP_LOCKED, DAVError
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, DAVProvider

from appliance import agefile, antivirus
from storage.paths import PathRefused, clean_folder
from storage.personnel import Entry, Index, PersonnelSpace, SpaceError, padme
from storage.quota import QuotaError, check_fits

IDENTITY_KEY: Final = "preau.identity"
USED_KEY: Final = "preau.used_bytes"  # a space's use, walked once per request (PROPFIND)
_T = TypeVar("_T")
HTTP_INSUFFICIENT_STORAGE: Final = 507


def top_if_none(path: str | None) -> str:
    """Return ``path``, or the top for the None WsgiDAV asks about.

    WsgiDAV takes "/ " for the top (``util.get_uri_parent`` strips spaces), so
    the parent of a name made of spaces, which the one name check accepts, is
    None: it is the top.
    """
    return "/" if path is None else path


class PersonnelSettings:
    """What the PERSONNEL provider needs at request time."""

    def __init__(
        self,
        root: Any,
        clamd_socket: str | None,
        scan_wait: float,
        quota: Callable[[str], int],
        record_usage: Callable[[str, int, int], None],
    ) -> None:
        self.root = root
        self.clamd_socket = clamd_socket
        self.scan_wait = scan_wait
        self.quota = quota  # role → bytes
        self.record_usage = record_usage  # person, bytes on disk, files


class _Context:
    """One request's view of one person's space."""

    def __init__(self, provider: PersonnelProvider, environ: dict[str, Any]) -> None:
        person = environ.get("preau.person") or ""
        identity = environ.get(IDENTITY_KEY) or ""
        if not person:
            raise DAVError(HTTP_FORBIDDEN, "not logged in")
        if not identity:
            raise DAVError(HTTP_LOCKED, "PERSONNEL is locked: log in on the web page once")
        self.person: str = person
        self.role: str = environ.get("preau.role") or "pupil"
        self.identity: str = identity
        self.space = PersonnelSpace(provider.settings.root, person, agefile.recipient_of(identity))
        self.settings = provider.settings
        self._files = 0

    def index(self) -> Index:
        return self.space.load_index(self.identity)

    def change(self, change: Callable[[Index], _T]) -> _T:
        """Change the index under its lock (shared with the web API); see :meth:`recount`."""
        try:
            result, self._files = self.space.change_index(self.identity, change)
        except SpaceError as err:  # a file where a folder should be, or the reverse
            raise DAVError(HTTP_CONFLICT, str(err)) from None
        return result

    def recount(self) -> None:
        """Store what the space takes, once an operation's blobs are written or deleted."""
        self.settings.record_usage(self.person, self.space.stored_bytes(), self._files)


def _relative(path: str) -> str:
    """Return a share path relative to the space, through the one path check."""
    try:
        return clean_folder(path)
    except PathRefused as err:
        raise DAVError(HTTP_BAD_REQUEST, str(err)) from None


class _PlainStream(io.RawIOBase):
    """The plaintext of a blob, decrypted as it is read."""

    def __init__(self, space: PersonnelSpace, entry: Entry, identity: str) -> None:
        self._source = (space.folder / "b" / entry.blob).open("rb")
        self._blocks: Iterator[bytearray] = agefile.iter_plaintext(identity, self._source)
        self._left = entry.size
        self._rest = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._rest and self._left > 0:
            block = next(self._blocks, None)
            if not block:
                break
            # A view, so that small reads do not copy the rest of the block each time.
            self._rest = memoryview(block)[: self._left]
            self._left -= len(self._rest)
        count = min(len(view), len(self._rest))
        view[:count] = self._rest[:count]
        self._rest = self._rest[count:]
        return count

    def close(self) -> None:
        self._source.close()
        super().close()


class _EncryptingWriter(io.RawIOBase):
    """Encrypt into a temporary blob and stream the plaintext to clamd, both at once."""

    def __init__(self, context: _Context) -> None:
        context.space.ensure()
        self.blob = secrets.token_hex(16)
        self.temp = context.space.folder / "b" / f".{self.blob}.part"
        self._out = self.temp.open("wb")
        self._writer = agefile.AgeWriter(agefile.recipient_of(context.identity), self._out)
        self.size = 0
        self._scan: socket.socket | None = None
        if context.settings.clamd_socket:
            try:
                self._scan = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._scan.settimeout(context.settings.scan_wait)
                self._scan.connect(context.settings.clamd_socket)
                self._scan.sendall(antivirus.COMMAND)
            except OSError as err:
                self.discard()
                raise DAVError(HTTP_FORBIDDEN, "antivirus unavailable") from err

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._writer.write(chunk)
        self.size += len(chunk)
        if self._scan is not None and chunk:
            self._scan.sendall(struct.pack("!I", len(chunk)) + chunk)
        return len(chunk)

    def close(self) -> None:
        # WsgiDAV closes the writer before end_write: the blob is finished there.
        super().close()

    def finish(self) -> antivirus.Verdict:
        """Pad and seal the blob, fsync it; return clamd's verdict."""
        padding = padme(self.size) - self.size
        while padding > 0:
            self._writer.write(bytes(min(padding, 1 << 20)))
            padding -= 1 << 20
        self._writer.close()
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        if self._scan is None:
            return antivirus.Verdict(True)
        try:
            self._scan.sendall(struct.pack("!I", 0))
            reply = b""
            while not reply.endswith(b"\0"):
                data = self._scan.recv(4096)
                if not data:
                    break
                reply += data
            return antivirus.parse_reply(reply)
        except (OSError, antivirus.ScannerUnavailable) as err:
            raise DAVError(HTTP_FORBIDDEN, "antivirus unavailable") from err
        finally:
            self._scan.close()

    def discard(self) -> None:
        """Remove the temporary blob."""
        with contextlib.suppress(OSError):
            self._out.close()
        if self._scan is not None:
            self._scan.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()


def _fits(context: _Context, size: int, replaced: int) -> None:
    """Ask the quota accountant; refuse with 507 Insufficient Storage past the capacity."""
    capacity = context.settings.quota(context.role)
    try:
        check_fits(size, capacity, context.space.stored_bytes(), replaced=replaced)
    except QuotaError:
        raise DAVError(HTTP_INSUFFICIENT_STORAGE, "quota: the space is full") from None


def _carry_properties(resource: Any, dest_path: str, *, is_move: bool) -> None:
    """Move or copy a resource's dead properties to its new URL."""
    manager = resource.provider.prop_manager
    if not manager:
        return
    destination = resource.provider.get_resource_inst(dest_path, resource.environ)
    if is_move:
        manager.move_properties(
            resource.get_ref_url(),
            destination.get_ref_url(),
            with_children=False,
            environ=resource.environ,
        )
    else:
        manager.copy_properties(resource.get_ref_url(), destination.get_ref_url(), resource.environ)


class PersonnelFile(DAVNonCollection):  # type: ignore[misc]
    """A file of PERSONNEL (or a name about to become one)."""

    def __init__(self, path: str, environ: dict[str, Any], context: _Context, entry: Entry | None):
        super().__init__(path, environ)
        self._context = context
        self._entry = entry
        self._writer: _EncryptingWriter | None = None

    def get_content_length(self) -> int | None:
        return None if self._entry is None else self._entry.size

    def get_content_type(self) -> str:
        return str(util.guess_mime_type(self.path, self.environ["wsgidav.config"]))

    def get_creation_date(self) -> float | None:
        return None if self._entry is None else self._entry.modified

    def get_last_modified(self) -> float | None:
        return None if self._entry is None else self._entry.modified

    def get_etag(self) -> str | None:
        return None if self._entry is None else self._entry.blob

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return False

    def support_recursive_move(self, dest_path: str) -> bool:
        return False

    def get_content(self) -> Any:
        if self._entry is None:
            raise DAVError(HTTP_FORBIDDEN, "no content yet")
        return io.BufferedReader(
            _PlainStream(self._context.space, self._entry, self._context.identity)
        )

    def begin_write(self, *, content_type: str | None = None) -> Any:
        del content_type
        self._writer = _EncryptingWriter(self._context)
        return self._writer

    def end_write(self, *, with_errors: bool) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        context = self._context
        try:
            if with_errors:
                raise DAVError(HTTP_FORBIDDEN, "upload interrupted")
            verdict = writer.finish()
            if not verdict.clean:
                raise DAVError(HTTP_FORBIDDEN, f"infected: {verdict.signature}")
            blobs = context.space.folder / "b"
            entry = Entry(writer.blob, writer.size, time.time())

            def commit(index: Index) -> Entry | None:
                old = index.files.get(_relative(self.path))
                replaced = (blobs / old.blob).stat().st_size if old is not None else 0
                # The new blob is already in stored_bytes (as its temporary file).
                _fits(context, 0, replaced)
                old = index.put(_relative(self.path), entry)
                writer.temp.rename(blobs / writer.blob)
                return old

            old = context.change(commit)
            if old is not None:
                context.space.delete_blob(old.blob)
            context.recount()
            self._entry = entry
        finally:
            writer.discard()

    def delete(self) -> None:
        context = self._context
        path = _relative(self.path)
        for blob in context.change(lambda index: index.remove(path) if path in index.files else []):
            context.space.delete_blob(blob)
        context.recount()
        self.remove_all_properties(recursive=True)
        self.remove_all_locks(recursive=True)

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        context = self._context
        blobs = context.space.folder / "b"

        def copy_or_move(index: Index) -> Entry | None:
            source = index.files[_relative(self.path)]
            target = _relative(dest_path)
            if is_move:
                del index.files[_relative(self.path)]
                replaced = index.put(target, source)
            else:
                copied = (blobs / source.blob).stat().st_size
                replaced_entry = index.files.get(target)
                freed = (blobs / replaced_entry.blob).stat().st_size if replaced_entry else 0
                _fits(context, copied, freed)
                blob = secrets.token_hex(16)
                shutil.copyfile(blobs / source.blob, blobs / f".{blob}.part")
                (blobs / f".{blob}.part").rename(blobs / blob)
                replaced = index.put(target, Entry(blob, source.size, time.time()))
            return replaced if replaced is not None and replaced.blob != source.blob else None

        replaced = context.change(copy_or_move)
        if replaced is not None:
            context.space.delete_blob(replaced.blob)
        context.recount()
        _carry_properties(self, dest_path, is_move=is_move)


class PersonnelFolder(DAVCollection):  # type: ignore[misc]
    """A folder of PERSONNEL (the root included)."""

    def __init__(self, path: str, environ: dict[str, Any], context: _Context) -> None:
        super().__init__(path, environ)
        self._context = context

    def get_member_names(self) -> list[str]:
        return [entry["name"] for entry in self._context.index().listing(_relative(self.path))]

    def get_used_bytes(self) -> int:
        """Return what the person's PERSONNEL takes on disk (RFC 4331), once per request."""
        used = self.environ.get(USED_KEY)
        if used is None:
            used = self.environ[USED_KEY] = self._context.space.stored_bytes()
        return int(used)

    def get_available_bytes(self) -> int:
        """Return what is left of the person's capacity (RFC 4331)."""
        quota = self._context.settings.quota(self._context.role)
        return max(0, quota - self.get_used_bytes())

    def get_member(self, name: str) -> Any:
        return self.provider.get_resource_inst(util.join_uri(self.path, name), self.environ)

    def create_empty_resource(self, name: str) -> PersonnelFile:
        path = util.join_uri(self.path, name)
        resource = PersonnelFile(path, self.environ, self._context, None)
        if self.environ.get("REQUEST_METHOD") == "LOCK":
            # A LOCK on an unmapped URL reserves the name with an empty file.
            stream = resource.begin_write()
            stream.close()
            resource.end_write(with_errors=False)
        return resource

    def create_collection(self, name: str) -> None:
        path = _relative(util.join_uri(self.path, name))
        self._context.change(lambda index: index.add_folder(path))

    def delete(self) -> None:
        context = self._context
        prefix = _relative(self.path)

        def remove(index: Index) -> list[str]:
            try:
                return index.remove(prefix)
            except FileNotFoundError:
                return []  # an empty folder only implied by its path

        blobs = context.change(remove)
        for blob in blobs:
            context.space.delete_blob(blob)
        context.recount()
        self.remove_all_properties(recursive=True)
        self.remove_all_locks(recursive=True)

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        target = _relative(dest_path)
        self._context.change(lambda index: index.add_folder(target))
        _carry_properties(self, dest_path, is_move=is_move)

    def support_recursive_move(self, dest_path: str) -> bool:
        return False


class PersonnelProvider(DAVProvider):  # type: ignore[misc]
    """Each person's PERSONNEL, at the share's root."""

    def __init__(self, settings: PersonnelSettings) -> None:
        super().__init__()
        self.settings = settings

    def get_resource_inst(self, path: str | None, environ: dict[str, Any]) -> Any:
        path = top_if_none(path)
        context = _Context(self, environ)
        relative = _relative(path)
        index = context.index()
        if relative in index.files:
            return PersonnelFile(path, environ, context, index.files[relative])
        if (
            not relative
            or relative in index.folders
            or any(p.startswith(f"{relative}/") for p in index.files)
        ):
            return PersonnelFolder(path, environ, context)
        return None

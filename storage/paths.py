"""The one check of every path a person gives for a space (issue #11, CARMO #8.11).

Every entry point — the JSON API, the "Mes fichiers" pages, both WebDAV
shares, the class areas (Distribution, Rendus), exports and restores —
passes the path it was given through :func:`clean_path` before any I/O, and
the spaces themselves do it again (:class:`~storage.pedagogical.PedagogicalSpace`
resolves every path through :func:`inside`), so a route that forgets cannot
reach outside. PERSONNEL and the pedagogical space accept exactly the same
names.

A path is relative to the top of the space; one leading ``/`` means the top
(WebDAV and the pages write it so). Refused, with a French message:

* ``..`` (repeated slashes and ``.`` name nothing and are dropped),
  backslashes, empty paths;
* NUL and every control character (newline, tab, DEL…), unpaired surrogates;
* bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069, and the
  marks U+200E, U+200F, U+061C), which make ``exe.pdf`` show as ``fdp.exe``;
* a name over 255 bytes in UTF-8 (what ext4 and every client take), a path
  over 1,024 bytes;
* on disk (:func:`inside`): a symbolic link anywhere on the way, and a path
  that goes through a file (``a.txt/b.txt``).

Names starting with a dot are ordinary names: they are stored, listed,
counted in the quota and exported like any other (temporary files live
outside the person's folder, see :func:`incoming_folder`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import unicodedata
from pathlib import Path
from typing import Final

from appliance.i18n import N_
from storage.errors import SpaceError

MAX_NAME_BYTES: Final = 255
MAX_PATH_BYTES: Final = 1024
_BIDI: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


THROUGH_FILE: Final = N_("Chemin invalide : un fichier porte le nom d'un des dossiers du chemin.")


class PathRefused(SpaceError):
    """A path the spaces refuse; the message is for the person, in French."""


class PathThroughFile(PathRefused):
    """A path that goes under a file (``a.txt/b.txt``): a conflict with what exists (409)."""

    def __init__(self) -> None:
        """Say it in French."""
        super().__init__(THROUGH_FILE)


def clean_name(name: str) -> str:
    """Return ``name`` if it can name a file or folder, or refuse it."""
    if name in ("", ".", ".."):
        raise PathRefused(N_("Nom invalide : « . » et « .. » ne peuvent pas nommer un fichier."))
    if "/" in name or "\\" in name:
        raise PathRefused(N_("Nom invalide : les barres « / » et « \\ » sont interdites."))
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise PathRefused(N_("Nom invalide : caractères illisibles.")) from None
    if size > MAX_NAME_BYTES:
        raise PathRefused(
            N_("Nom trop long : 255 octets au plus (environ 120 lettres accentuées).")
        )
    for char in name:
        if char in _BIDI:
            raise PathRefused(
                N_("Nom refusé : il contient un caractère qui inverse le sens du texte "
                   "(il pourrait déguiser le type du fichier).")
            )  # fmt: skip
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise PathRefused(N_("Nom invalide : caractère de contrôle (retour à la ligne, NUL…)."))
    return name


def clean_path(path: str) -> str:
    """Return ``path`` relative to the space's top (no I/O), or refuse it."""
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise PathRefused(N_("Chemin invalide : caractères illisibles.")) from None
    if size > MAX_PATH_BYTES:
        raise PathRefused(N_("Chemin trop long : 1 024 octets au plus."))
    if "\\" in path:
        raise PathRefused(N_("Chemin invalide : la barre « \\ » est interdite."))
    # Repeated slashes and "." name nothing: dropped. ".." is refused by clean_name.
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts:
        raise PathRefused(N_("Chemin vide : nommez un fichier ou un dossier."))
    return "/".join(clean_name(part) for part in parts)


def clean_folder(path: str) -> str:
    """Return a folder's path ("" for the top), or refuse it."""
    return "" if path.strip("/") == "" else clean_path(path)


def inside(folder: Path, relative: str) -> Path:
    """Return ``folder / relative`` once sure no link or file stands on the way.

    ``relative`` must come from :func:`clean_path`. Missing parts are fine
    (a file about to be written); a symbolic link anywhere, or a file where a
    folder should be, is refused.
    """
    current = folder
    parts = relative.split("/") if relative else []
    for position, part in enumerate(parts):
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return folder.joinpath(*parts)
        except NotADirectoryError:
            raise PathThroughFile from None
        if stat.S_ISLNK(mode):
            raise PathRefused(N_("Chemin refusé : les liens ne sont pas suivis."))
        if position < len(parts) - 1 and not stat.S_ISDIR(mode):
            raise PathThroughFile
    return current


def incoming_folder(space_folder: Path) -> Path:
    """Return where uploads to ``space_folder`` are written before their rename.

    Beside the person's folder, on the same file system (the rename is
    atomic), never inside it: temporary names take nothing from the
    person's names, nor their 255 bytes.
    """
    return space_folder.parent / ".incoming"


def sweep_incoming(productions_root: Path) -> int:
    """Delete the temporaries killed uploads left in the ``.incoming`` folders; return how many.

    Only the web process writes uploads (pages, API, WebDAV), and it calls this
    at its start, before it listens: no upload is in progress, so every
    ``.part`` file there is a leftover that no one will ever rename. Held
    uploads are not temporaries (they wait in ``held/``) and are kept.
    Blocking: call it through the executor.
    """
    removed = 0
    for incoming in [
        *productions_root.glob(".incoming"),
        *productions_root.glob("*/.incoming"),
        *productions_root.glob("*/*/.incoming"),
    ]:
        for leftover in incoming.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                removed += 1
    return removed

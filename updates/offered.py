"""The offered bundle and its approval, as files both sides of the privilege line read.

Root (``preau update offer``) copies a verified bundle to
``<folder>/offered.raucb`` and describes it in ``offered.json``: the copy
goes to a temporary name, is fsynced and renamed, so a power cut during the
copy leaves no half bundle under the offered name. The web UI, as
``preau``, writes the referent's approval to ``<data_dir>/update-approval.json``;
root reads it at install time. Both are small JSON files replaced atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Final

from appliance.atomic import fsync_directory, write_atomic
from updates.approval import Approval, Offer

BUNDLE: Final = "offered.raucb"
OFFER: Final = "offered.json"
APPROVAL: Final = "update-approval.json"


@contextlib.contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold the updates' lock: one offer, apply or install at a time (the timer, a person)."""
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def read_offer(folder: Path) -> Offer | None:
    """Return the bundle offered to the box, if one lies whole in FOLDER."""
    try:
        offer = Offer(**json.loads((folder / OFFER).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    # The description outlives nothing: no bundle, no offer.
    return offer if (folder / BUNDLE).is_file() else None


def new_part(folder: Path) -> Path:
    """Return a fresh hidden file in FOLDER for a bundle on its way (a copy, a download)."""
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(prefix=".offered.", suffix=".part", dir=folder)
    os.close(fd)
    return Path(part)


def place_bundle(part: Path, folder: Path) -> None:
    """Put the whole bundle PART under the offered name (fsynced, renamed, durable)."""
    with part.open("rb+") as handle:
        os.fsync(handle.fileno())
    part.chmod(0o644)
    part.replace(folder / BUNDLE)
    fsync_directory(folder)


def copy_bundle(source: Path, folder: Path) -> str:
    """Copy SOURCE to the offered name, whole or not at all; return its SHA-256."""
    part = new_part(folder)
    digest = hashlib.sha256()
    try:
        with part.open("wb") as out, source.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        place_bundle(part, folder)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def write_offer(offer: Offer, folder: Path) -> None:
    """Describe the offered bundle (after it lies whole under its name)."""
    write_atomic(folder / OFFER, json.dumps(asdict(offer)), mode=0o644)


def clear_offer(folder: Path, keep: Path | None = None) -> None:
    """Forget the offered bundle (its description first) and parts left by a cut, but KEEP."""
    (folder / OFFER).unlink(missing_ok=True)
    (folder / BUNDLE).unlink(missing_ok=True)
    for part in folder.glob(".offered.*.part"):
        if part != keep:
            part.unlink(missing_ok=True)


def place(folder: Path) -> Path:
    """Return FOLDER, or its parent while it is not made yet (the same partition)."""
    return folder if folder.exists() else folder.parent


def free_bytes(folder: Path) -> int:
    """Return the free bytes of the partition FOLDER lies on."""
    return shutil.disk_usage(place(folder)).free


def read_approval(data_dir: Path) -> Approval | None:
    """Return the referent's approval, if any."""
    try:
        return Approval(**json.loads((data_dir / APPROVAL).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_approval(approval: Approval, data_dir: Path) -> None:
    """Keep the referent's approval (readable by root, which installs)."""
    write_atomic(data_dir / APPROVAL, json.dumps(asdict(approval)), mode=0o644)


def clear_approval(data_dir: Path) -> None:
    """Withdraw the referent's approval."""
    (data_dir / APPROVAL).unlink(missing_ok=True)

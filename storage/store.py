"""The productions store: both spaces of every person, behind one async API.

Owned by the web process (explicit wiring: created in the app's cleanup
context). It keeps, in memory only, the PERSONNEL identity of each logged-in
web session (:class:`Keyring`); a session that ends takes its key with it.
Access is checked on every call: a person reaches only their own spaces;
no role, referent included, can open another person's PERSONNEL, because no
code path holds their identity (#7.30, #7.31). Blocking work (Argon2id,
encryption, disk) runs in the bounded executor; uploads and downloads stream
through a small bounded queue, so no plaintext ever touches the disk and
memory stays flat whatever the file size.

The store is one class built in layers, one module a concern (issue #12):
:mod:`~storage.store_base`, :mod:`~storage.personnel_keys`,
:mod:`~storage.uploads`, :mod:`~storage.reading` and
:mod:`~storage.lifecycle`. One store is built per core and shared
(``core.shared(ProductionsStore)``): its per-person locks and keyring are one.
"""

from __future__ import annotations

from storage.lifecycle import Lifecycle
from storage.store_base import (
    SPACES,
    USAGE_TOPIC,
    HeldForScan,
    InfectedError,
    Keyring,
    LockedError,
    Space,
    Unlocked,
    quota_bytes,
)

__all__ = [
    "SPACES",
    "USAGE_TOPIC",
    "HeldForScan",
    "InfectedError",
    "Keyring",
    "LockedError",
    "ProductionsStore",
    "Space",
    "Unlocked",
    "quota_bytes",
]


class ProductionsStore(Lifecycle):
    """Both spaces of every person."""

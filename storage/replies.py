"""What the storage's API answers, one model per answer (the OpenAPI document shows them)."""

from __future__ import annotations

from pydantic import Field

from appliance.web.api_routes import Reply


class SpaceUse(Reply):
    """One of my spaces: what it holds against its capacity."""

    used_bytes: int
    files: int
    quota_bytes: int
    warning: int  # the highest threshold passed (percent), 0 if none


class PersonnelUse(SpaceUse):
    """PERSONNEL, and whether this session has its key."""

    locked: bool


class SpacesReply(Reply):
    """My two spaces; a recovery code once, right after PERSONNEL is created."""

    pedagogical: SpaceUse
    personnel: PersonnelUse
    recovery_code: str | None


class Entry(Reply):
    """A file or a folder of a listing."""

    name: str
    folder: bool
    size: int | None = None
    modified: float | None = None


class ListingReply(Reply):
    """A folder's children, folders first."""

    entries: list[Entry]


class FolderCreated(Reply):
    """The folder made."""

    path: str


class FileStored(Reply):
    """The file stored and its size."""

    path: str
    size: int


class Moved(Reply):
    """What moved where."""

    source: str
    target: str


class Deleted(Reply):
    """What was deleted."""

    deleted: str


class Unlocked(Reply):
    """PERSONNEL is open again."""

    locked: bool


class Erased(Reply):
    """My PERSONNEL is gone for good."""

    erased: bool


class ErasedRemotely(Reply):
    """Whose PERSONNEL was erased."""

    erased: str


class RetrievalCode(Reply):
    """A code for someone who left (shown once) and where to use it."""

    code: str
    expires_at: float
    page: str


class PersonSpace(Reply):
    """One space of one person against its capacity (never its content)."""

    user: str
    space: str
    used_bytes: int
    files: int
    quota_bytes: int
    warning: int


class StorageReply(Reply):
    """Every space, and those past a threshold."""

    spaces: list[PersonSpace]
    over_threshold: list[PersonSpace]


class ClassFileStored(Reply):
    """A file stored in a class area, and its size."""

    size: int


class AssignmentOpened(Reply):
    """The assignment opened."""

    id: int
    title: str
    due_at: float | None
    group_id: int | None = None


class Assignment(Reply):
    """An assignment of a class (or of one of its groups)."""

    id: int
    title: str
    created_by: str
    due_at: float | None
    group: str = Field("", description="The group it is for; empty: the whole class.")
    group_id: int | None = None


class AssignmentsReply(Reply):
    """A class's assignments, newest first."""

    assignments: list[Assignment]


class HandedInReply(Reply):
    """What each pupil handed in (a pupil sees only their own)."""

    rendus: dict[str, list[Entry]]


class HandedInFromFiles(Reply):
    """A file handed in from Mes fichiers: its name in the folder, its size."""

    name: str
    size: int

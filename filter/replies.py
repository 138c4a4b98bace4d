"""What the filter's API answers, one model per answer (the OpenAPI document shows them)."""

from __future__ import annotations

from pydantic import Field

from appliance.web.api_routes import Reply


class Override(Reply):
    """A timed override in force."""

    id: int
    target_kind: str
    target: str
    action: str
    domains: list[str]
    categories: list[str]
    reason: str
    created_by: str
    created_at: float
    expires_at: float


class OverridesReply(Reply):
    """The overrides in force."""

    overrides: list[Override]


class OverrideEnded(Reply):
    """The override that was ended."""

    ended: int


class Explanation(Reply):
    """Why a domain is (not) blocked for a group or a device."""

    domain: str
    group: str
    class_: str = Field(alias="class")
    blocked: bool
    action: str
    rule: str
    category: str
    list_: str = Field(alias="list")
    matched: str
    target: str
    overrides: list[int]


class BlockList(Reply):
    """An imported block list and what it holds."""

    name: str
    format: str
    source: str
    path: str
    sha256: str
    domains: int
    categories: dict[str, int]
    not_enforceable: dict[str, int]
    compiled_at: str


class ListsReply(Reply):
    """The imported block lists."""

    lists: list[BlockList]


class UnblockRequest(Reply):
    """A request sent from the block page (by group, never by device)."""

    id: int
    domain: str
    category: str
    group_name: str
    message: str
    created_at: str
    status: str


class UnblockRequestsReply(Reply):
    """The newest unblock requests."""

    requests: list[UnblockRequest]


class UnblockAnswered(Reply):
    """An unblock request and its answer."""

    id: int
    status: str


class BlockedCount(Reply):
    """Blocked queries of one hour, group and domain."""

    hour: str
    group_name: str
    domain: str
    category: str
    count: int


class BlockedReply(Reply):
    """Blocked queries, newest hour first."""

    blocked: list[BlockedCount]


class OverrideExtended(Reply):
    """An override's new end, with the créneau it now ends with ("" outside any)."""

    id: int
    expires_at: float
    creneau: str

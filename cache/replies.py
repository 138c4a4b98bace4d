"""What the cache's API answers, one model per answer (the OpenAPI document shows them)."""

from __future__ import annotations

from appliance.web.api_routes import Reply


class DayTraffic(Reply):
    """What the cache served and fetched on one day."""

    day: str
    served: int
    fetched: int
    saved: int
    hits: int
    misses: int


class ClassTraffic(Reply):
    """What the cache served and fetched for one kind of content."""

    content_class: str
    served: int
    fetched: int
    saved: int
    hit_ratio: float
    hits: int
    misses: int


class CachedObject(Reply):
    """An object the cache keeps."""

    digest: str
    url: str
    content_class: str
    length: int
    present_bytes: int
    served_bytes: int
    last_used: float
    pinned: str


class Plan(Reply):
    """A pre-staging list and how far it got."""

    plan: str
    items: int
    done: int | None
    failed: int | None
    bytes: int | None
    checked_at: float | None


class Run(Reply):
    """A pre-staging run."""

    id: int
    requested_at: float
    deadline: float
    started_at: float | None
    finished_at: float | None
    status: str
    items_done: int
    items_failed: int
    items_left: int
    fetched_bytes: int


class CacheReply(Reply):
    """Traffic per day and content, the top objects, the lists and the last runs."""

    days: list[DayTraffic]
    classes: list[ClassTraffic]
    objects: list[CachedObject]
    plans: list[Plan]
    runs: list[Run]


class PlanStored(Reply):
    """A pre-staging list and how many items it holds."""

    plan: str
    items: int


class PlanRemoved(Reply):
    """The pre-staging list removed."""

    removed: str


class RunRequested(Reply):
    """The pre-staging run asked for."""

    run: int

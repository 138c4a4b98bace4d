"""What the kernel's API answers, one model per answer (the OpenAPI document shows them)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, RootModel

from appliance.config import Role
from appliance.web.api_routes import Reply


class MeReply(Reply):
    """The logged-in person: only the fields of CARMO table 9."""

    id: str
    source: str
    display_name: str
    role: Role
    school_uai: str
    given_name: str
    surname: str
    class_name: str
    level: str
    groups: list[str]
    teaches: list[str] = Field(description="The classes a teacher teaches (issue #13).")


class ServiceHealth(Reply):
    """One service's health, its detail in the reader's language."""

    name: str
    status: str
    detail: str
    updated_at: float | None


class HealthReply(Reply):
    """Every service's health."""

    services: list[ServiceHealth]


class ClassSize(Reply):
    """A class and how many people it has."""

    name: str
    school_uai: str
    members: int


class ClassesReply(Reply):
    """The classes of the site."""

    classes: list[ClassSize]


class PersonRow(Reply):
    """A person as the directory pages list them."""

    id: str
    display_name: str
    role: Role
    school_uai: str
    class_name: str
    level: str
    departed_at: str | None


class PeopleReply(Reply):
    """People, of one class or all."""

    people: list[PersonRow]


class ClosedDay(Reply):
    """A day the school is closed on top of the holidays."""

    day: str
    reason: str


class ClosedDaysReply(Reply):
    """The extra closed days."""

    closed_days: list[ClosedDay]


class ClosedDayCreated(ClosedDay):
    """A closed day, and whether it is new."""

    created: bool


class JobRow(Reply):
    """A maintenance job, its next run as last planned and its last result."""

    job_id: str
    next_run: str | None
    last_success: str | None
    last_error: str | None  # None until the job first runs


class JobsReply(Reply):
    """The maintenance jobs."""

    jobs: list[JobRow]


class Delegation(Reply):
    """A role delegated for a school."""

    person_id: str
    role: Role
    school_uai: str
    granted_by: str
    granted_at: str


class DelegationsReply(Reply):
    """The delegations of the schools the caller administers."""

    delegations: list[Delegation]


class AuditEntry(Reply):
    """One audit entry."""

    at: str
    actor: str
    source: str
    action: str
    target: str
    outcome: str
    detail: str


class AuditReply(Reply):
    """The newest audit entries first."""

    entries: list[AuditEntry]


class OpenSession(Reply):
    """An open login session (never its token)."""

    person_id: str
    role: Role
    source: str
    created_at: float
    last_seen: float
    expires_at: float


class SessionsReply(Reply):
    """The open login sessions."""

    sessions: list[OpenSession]


class SessionPerson(Reply):
    """Who logged in."""

    id: str
    display_name: str


class SessionOpened(Reply):
    """A login: who, as what, the CSRF token to send back, and when it ends."""

    person: SessionPerson
    role: Role
    csrf_token: str
    expires_at: float


class LoggedOut(Reply):
    """The session is over."""

    ok: bool


class ClosedDayRemoved(Reply):
    """The closed day removed."""

    removed: str


class Delegated(Reply):
    """The role delegated."""

    person_id: str
    role: Role
    school_uai: str


class DelegationWithdrawn(Reply):
    """The delegation withdrawn."""

    removed: bool


class SessionsEnded(Reply):
    """How many sessions ended."""

    ended: int


class OpenApiReply(RootModel[dict[str, Any]]):
    """The OpenAPI 3.1 document itself."""


class TeachingLink(Reply):
    """One teacher↔class link."""

    person_id: str
    display_name: str
    class_name: str
    source: str = Field(description="ldap (the directory), sts (the timetable) or local.")


class TeachingReply(Reply):
    """Every teacher↔class link."""

    teaching: list[TeachingLink]


class TeachingSet(Reply):
    """A teacher's classes after the referent's change, from every source."""

    person_id: str
    classes: list[str]

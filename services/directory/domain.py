"""Person and Team aggregates: who works where, for whom, and since when, per tenant.

Ids are the enterprise's own (HRIS) ids, scoped by tenant; the aggregate id is a UUID derived
from (tenant, kind, id), so the same person always maps to the same stream. Upserts record an
event only for what actually changed, which makes applying the same upsert twice a no-op.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from northstar_contracts.hris import (
    MAX_EMAIL_LENGTH,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_REASON_LENGTH,
    MAX_TITLE_LENGTH,
)
from services.shared.errors import FailedPrecondition, InvalidArgument, NotFound
from services.shared.validation import reject_control_characters

DIRECTORY_NAMESPACE = UUID("3d5e0b8a-9c41-5f27-8e6d-1b2a4c7f9e03")
ACTIVE, ON_LEAVE, DEPARTED = "active", "on_leave", "departed"
UPSERTABLE_STATUSES = (ACTIVE, ON_LEAVE)
EMPLOYMENT_STATUSES = (ACTIVE, ON_LEAVE, DEPARTED)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UnknownPerson(NotFound):
    """No person with this id in the tenant."""


class UnknownManager(NotFound):
    """The named manager is not a person of the tenant."""


class UnknownTeam(NotFound):
    """No team with this id in the tenant."""


class ManagerCycle(FailedPrecondition):
    """The reporting line would loop back to the person (directly or through others)."""


class TeamCycle(FailedPrecondition):
    """The team would (indirectly) become its own parent."""


class ManagerDeparted(FailedPrecondition):
    """People cannot be placed under a manager who has left."""


def person_uuid(tenant_id: str, person_id: str) -> UUID:
    return uuid5(DIRECTORY_NAMESPACE, f"{tenant_id}:person:{person_id}")


def team_uuid(tenant_id: str, team_id: str) -> UUID:
    return uuid5(DIRECTORY_NAMESPACE, f"{tenant_id}:team:{team_id}")


def require_id(value: str, field: str, *, allow_blank: bool = False) -> str:
    """An external id: non-blank (unless allowed), bounded, no surrounding whitespace, no
    control characters (a NUL cannot be stored in PostgreSQL text and breaks logs, exports)."""
    if not isinstance(value, str):
        raise InvalidArgument("must be a string", field=field)
    if value != value.strip():
        raise InvalidArgument("must not start or end with whitespace", field=field)
    if not value and not allow_blank:
        raise InvalidArgument("is required", field=field)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidArgument(f"must be at most {MAX_ID_LENGTH} characters", field=field)
    return reject_control_characters(value, field)


def require_text(value: str, field: str, *, max_length: int, allow_blank: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidArgument("must be a string", field=field)
    value = value.strip()
    if not value and not allow_blank:
        raise InvalidArgument("is required", field=field)
    if len(value) > max_length:
        raise InvalidArgument(f"must be at most {max_length} characters", field=field)
    return reject_control_characters(value, field)


@dataclass(frozen=True)
class PersonDetails:
    """Everything an upsert says about a person (departure has its own command)."""

    name: str
    email: str
    title: str = ""
    team_id: str = ""
    manager_id: str = ""
    employment_status: str = ACTIVE
    start_date: date | None = None
    leave_date: date | None = None

    def validated(self) -> PersonDetails:
        """The same details, trimmed, or InvalidArgument naming the first bad field."""
        email = require_text(self.email, "email", max_length=MAX_EMAIL_LENGTH)
        if not _EMAIL.match(email):
            raise InvalidArgument("is not an email address", field="email")
        if self.employment_status not in UPSERTABLE_STATUSES:
            raise InvalidArgument(
                f"must be one of {', '.join(UPSERTABLE_STATUSES)} (departures are recorded "
                "as such)",
                field="employment_status",
            )
        if self.start_date and self.leave_date and self.leave_date < self.start_date:
            raise InvalidArgument("must not be before the start date", field="leave_date")
        return PersonDetails(
            name=require_text(self.name, "name", max_length=MAX_NAME_LENGTH),
            email=email,
            title=require_text(self.title, "title", max_length=MAX_TITLE_LENGTH, allow_blank=True),
            team_id=require_id(self.team_id, "team_id", allow_blank=True),
            manager_id=require_id(self.manager_id, "manager_id", allow_blank=True),
            employment_status=self.employment_status,
            start_date=self.start_date,
            leave_date=self.leave_date,
        )


@dataclass(frozen=True)
class TeamDetails:
    """Everything an upsert says about a team; a team without parent is a department."""

    name: str
    parent_team_id: str = ""
    lead_id: str = ""

    def validated(self) -> TeamDetails:
        return TeamDetails(
            name=require_text(self.name, "name", max_length=MAX_NAME_LENGTH),
            parent_team_id=require_id(self.parent_team_id, "parent_team_id", allow_blank=True),
            lead_id=require_id(self.lead_id, "lead_id", allow_blank=True),
        )


class Person(Aggregate):
    """A person of one tenant; `person_id` is the enterprise's id for them."""

    class Event(Aggregate.Event):
        pass

    class Registered(Event, Aggregate.Created):
        tenant_id: str
        person_id: str
        name: str
        email: str
        title: str
        team_id: str
        manager_id: str
        employment_status: str
        start_date: date | None
        leave_date: date | None
        effective_at: datetime

    class ProfileChanged(Event):
        person_id: str
        name: str
        email: str
        title: str
        effective_at: datetime

    class TeamChanged(Event):
        person_id: str
        team_id: str
        previous_team_id: str
        effective_at: datetime

    class ManagerChanged(Event):
        person_id: str
        manager_id: str
        previous_manager_id: str
        effective_at: datetime

    class EmploymentChanged(Event):
        person_id: str
        employment_status: str
        start_date: date | None
        leave_date: date | None
        effective_at: datetime

    class Departed(Event):
        person_id: str
        leave_date: date
        manager_id: str
        team_id: str
        reason: str
        effective_at: datetime

    class Rehired(Event):
        person_id: str
        start_date: date
        effective_at: datetime

    @staticmethod
    def create_id(tenant_id: str, person_id: str) -> UUID:
        return person_uuid(tenant_id, person_id)

    @classmethod
    def register(
        cls, tenant_id: str, person_id: str, details: PersonDetails, effective_at: datetime
    ) -> Person:
        """A new person; validates everything before the Registered event exists."""
        require_id(tenant_id, "tenant_id")
        require_id(person_id, "person_id")
        details = details.validated()
        if details.manager_id == person_id:
            raise ManagerCycle("a person cannot be their own manager", field="manager_id")
        return cls(
            tenant_id=tenant_id,
            person_id=person_id,
            effective_at=effective_at,
            **vars(details),
        )

    # No "*": eventsourcing 9.5 treats keyword-only parameters with defaults as required.
    @event(Registered)
    def __init__(
        self,
        tenant_id: str,
        person_id: str,
        name: str,
        email: str,
        title: str,
        team_id: str,
        manager_id: str,
        employment_status: str,
        start_date: date | None,
        leave_date: date | None,
        effective_at: datetime,
    ) -> None:
        self.tenant_id = tenant_id
        self.person_id = person_id
        self.name = name
        self.email = email
        self.title = title
        self.team_id = team_id
        self.manager_id = manager_id
        self.employment_status = employment_status
        self.start_date = start_date
        self.leave_date = leave_date
        self.effective_at = effective_at

    @property
    def has_departed(self) -> bool:
        return self.employment_status == DEPARTED

    def is_stale(self, effective_at: datetime) -> bool:
        """True for a record older than the last change applied: it must not undo newer data."""
        return effective_at < self.effective_at

    def details(self) -> PersonDetails:
        return PersonDetails(
            name=self.name,
            email=self.email,
            title=self.title,
            team_id=self.team_id,
            manager_id=self.manager_id,
            employment_status=self.employment_status,
            start_date=self.start_date,
            leave_date=self.leave_date,
        )

    def update(self, details: PersonDetails, effective_at: datetime) -> None:
        """Records one event per aspect that differs from `details`; nothing when all agree.

        A departed person stays departed unless `details` starts a new employment after the
        leave date (a rehire); other fields are still kept up to date.
        """
        details = details.validated()
        if details.manager_id == self.person_id:
            raise ManagerCycle("a person cannot be their own manager", field="manager_id")
        if self.has_departed:
            rehire_date = details.start_date
            if rehire_date is None or self.leave_date is None or rehire_date <= self.leave_date:
                details = _keep_departure(details, self)
            else:
                self._rehired(
                    person_id=self.person_id, start_date=rehire_date, effective_at=effective_at
                )
        if (details.name, details.email, details.title) != (self.name, self.email, self.title):
            self._profile_changed(
                person_id=self.person_id,
                name=details.name,
                email=details.email,
                title=details.title,
                effective_at=effective_at,
            )
        if details.team_id != self.team_id:
            self._team_changed(
                person_id=self.person_id,
                team_id=details.team_id,
                previous_team_id=self.team_id,
                effective_at=effective_at,
            )
        if details.manager_id != self.manager_id:
            self._manager_changed(
                person_id=self.person_id,
                manager_id=details.manager_id,
                previous_manager_id=self.manager_id,
                effective_at=effective_at,
            )
        employment = (details.employment_status, details.start_date, details.leave_date)
        if employment != (self.employment_status, self.start_date, self.leave_date):
            self._employment_changed(
                person_id=self.person_id,
                employment_status=details.employment_status,
                start_date=details.start_date,
                leave_date=details.leave_date,
                effective_at=effective_at,
            )

    def depart(self, leave_date: date, reason: str, effective_at: datetime) -> None:
        """Records the departure once; a repeated departure changes nothing."""
        reason = require_text(reason, "reason", max_length=MAX_REASON_LENGTH, allow_blank=True)
        if self.has_departed:
            return
        if self.start_date is not None and leave_date < self.start_date:
            raise InvalidArgument("must not be before the start date", field="leave_date")
        self._departed(
            person_id=self.person_id,
            leave_date=leave_date,
            manager_id=self.manager_id,
            team_id=self.team_id,
            reason=reason,
            effective_at=effective_at,
        )

    @event(ProfileChanged)
    def _profile_changed(
        self, person_id: str, name: str, email: str, title: str, effective_at: datetime
    ) -> None:
        self.name, self.email, self.title = name, email, title
        self.effective_at = effective_at

    @event(TeamChanged)
    def _team_changed(
        self, person_id: str, team_id: str, previous_team_id: str, effective_at: datetime
    ) -> None:
        self.team_id = team_id
        self.effective_at = effective_at

    @event(ManagerChanged)
    def _manager_changed(
        self, person_id: str, manager_id: str, previous_manager_id: str, effective_at: datetime
    ) -> None:
        self.manager_id = manager_id
        self.effective_at = effective_at

    @event(EmploymentChanged)
    def _employment_changed(
        self,
        person_id: str,
        employment_status: str,
        start_date: date | None,
        leave_date: date | None,
        effective_at: datetime,
    ) -> None:
        self.employment_status = employment_status
        self.start_date, self.leave_date = start_date, leave_date
        self.effective_at = effective_at

    @event(Departed)
    def _departed(
        self,
        person_id: str,
        leave_date: date,
        manager_id: str,
        team_id: str,
        reason: str,
        effective_at: datetime,
    ) -> None:
        self.employment_status = DEPARTED
        self.leave_date = leave_date
        self.effective_at = effective_at

    @event(Rehired)
    def _rehired(self, person_id: str, start_date: date, effective_at: datetime) -> None:
        self.employment_status = ACTIVE
        self.start_date, self.leave_date = start_date, None
        self.effective_at = effective_at


def _keep_departure(details: PersonDetails, person: Person) -> PersonDetails:
    return PersonDetails(
        **{
            **vars(details),
            "employment_status": DEPARTED,
            "start_date": person.start_date,
            "leave_date": person.leave_date,
        }
    )


class Team(Aggregate):
    """A team of one tenant; a team without a parent is a department."""

    class Event(Aggregate.Event):
        pass

    class Registered(Event, Aggregate.Created):
        tenant_id: str
        team_id: str
        name: str
        parent_team_id: str
        lead_id: str
        effective_at: datetime

    class Renamed(Event):
        team_id: str
        name: str
        effective_at: datetime

    class ParentChanged(Event):
        team_id: str
        parent_team_id: str
        previous_parent_team_id: str
        effective_at: datetime

    class LeadChanged(Event):
        team_id: str
        lead_id: str
        previous_lead_id: str
        effective_at: datetime

    @staticmethod
    def create_id(tenant_id: str, team_id: str) -> UUID:
        return team_uuid(tenant_id, team_id)

    @classmethod
    def register(
        cls, tenant_id: str, team_id: str, details: TeamDetails, effective_at: datetime
    ) -> Team:
        require_id(tenant_id, "tenant_id")
        require_id(team_id, "team_id")
        details = details.validated()
        if details.parent_team_id == team_id:
            raise TeamCycle("a team cannot be its own parent", field="parent_team_id")
        return cls(tenant_id=tenant_id, team_id=team_id, effective_at=effective_at, **vars(details))

    @event(Registered)
    def __init__(
        self,
        tenant_id: str,
        team_id: str,
        name: str,
        parent_team_id: str,
        lead_id: str,
        effective_at: datetime,
    ) -> None:
        self.tenant_id = tenant_id
        self.team_id = team_id
        self.name = name
        self.parent_team_id = parent_team_id
        self.lead_id = lead_id
        self.effective_at = effective_at

    @property
    def is_department(self) -> bool:
        return not self.parent_team_id

    def is_stale(self, effective_at: datetime) -> bool:
        return effective_at < self.effective_at

    def update(self, details: TeamDetails, effective_at: datetime) -> None:
        details = details.validated()
        if details.parent_team_id == self.team_id:
            raise TeamCycle("a team cannot be its own parent", field="parent_team_id")
        if details.name != self.name:
            self._renamed(team_id=self.team_id, name=details.name, effective_at=effective_at)
        if details.parent_team_id != self.parent_team_id:
            self._parent_changed(
                team_id=self.team_id,
                parent_team_id=details.parent_team_id,
                previous_parent_team_id=self.parent_team_id,
                effective_at=effective_at,
            )
        if details.lead_id != self.lead_id:
            self._lead_changed(
                team_id=self.team_id,
                lead_id=details.lead_id,
                previous_lead_id=self.lead_id,
                effective_at=effective_at,
            )

    @event(Renamed)
    def _renamed(self, team_id: str, name: str, effective_at: datetime) -> None:
        self.name = name
        self.effective_at = effective_at

    @event(ParentChanged)
    def _parent_changed(
        self,
        team_id: str,
        parent_team_id: str,
        previous_parent_team_id: str,
        effective_at: datetime,
    ) -> None:
        self.parent_team_id = parent_team_id
        self.effective_at = effective_at

    @event(LeadChanged)
    def _lead_changed(
        self, team_id: str, lead_id: str, previous_lead_id: str, effective_at: datetime
    ) -> None:
        self.lead_id = lead_id
        self.effective_at = effective_at


def find_loop(start: str, target: str, parent_of: Callable[[str], str]) -> bool:
    """True when following `parent_of` upwards from `start` reaches `target`.

    Used for both reporting lines and team trees; a loop already present in the data (which
    validation prevents, but a store could hold from an older release) ends the walk.
    """
    seen: set[str] = set()
    current = start
    while current and current not in seen:
        if current == target:
            return True
        seen.add(current)
        current = parent_of(current)
    return False

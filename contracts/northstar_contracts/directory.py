"""Public events of the directory topic (northstar.directory.v1): one model per event.

Every event names the person or team by the enterprise's id (`person_id` / `team_id`), so a
consumer can keep a replica without knowing our aggregate UUIDs. Fields are never renamed or
retyped in place: a breaking change is a new schema version with an upcaster (see registry).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Literal

from pydantic import AwareDatetime, Field

from northstar_contracts.registry import EVENTS, Contract, EventContract, PersonalData

TOPIC = "northstar.directory.v1"
SOURCE = "northstar/directory"
TYPE_PREFIX = "directory."
PERSON_DEPARTED = f"{TYPE_PREFIX}PersonDeparted"


def directory_event(
    type_name: str, aggregate_type: str, version: int = 1
) -> Callable[[Contract], Contract]:
    return EVENTS.register(type_name, version=version, topic=TOPIC, aggregate_type=aggregate_type)


PersonId = Field(description="The enterprise's id of the person (unique within the tenant).")
TeamId = Field(description="The enterprise's id of the team (unique within the tenant).")
EffectiveAt = Field(description="When the change took effect in the HRIS (or the API call).")
Status = Literal["active", "on_leave", "departed"]


@directory_event("directory.PersonRegistered", "Person")
class PersonRegisteredV1(EventContract):
    """A person joined the directory."""

    tenant_id: str = Field(description="Tenant the person belongs to.")
    person_id: str = PersonId
    name: str = PersonalData("Full name.")
    email: str = PersonalData("Work email address.")
    title: str = PersonalData("Job title ('' when unknown).")
    team_id: str = Field(description="Team the person belongs to ('' when none).")
    manager_id: str = Field(description="Person id of the line manager ('' at the top).")
    employment_status: Status = Field(description="active or on_leave (departed comes later).")
    start_date: date | None = Field(description="First day of employment, if known.")
    leave_date: date | None = Field(description="Planned last day, if known.")
    effective_at: AwareDatetime = EffectiveAt


@directory_event("directory.PersonProfileChanged", "Person")
class PersonProfileChangedV1(EventContract):
    """A person's name, email or job title changed."""

    person_id: str = PersonId
    name: str = PersonalData("Full name (new or unchanged).")
    email: str = PersonalData("Work email address (new or unchanged).")
    title: str = PersonalData("Job title (new or unchanged).")
    effective_at: AwareDatetime = EffectiveAt


@directory_event("directory.PersonTeamChanged", "Person")
class PersonTeamChangedV1(EventContract):
    """A person moved to another team."""

    person_id: str = PersonId
    team_id: str = Field(description="New team ('' when none).")
    previous_team_id: str = Field(description="Team before the move ('' when none).")
    effective_at: AwareDatetime = EffectiveAt


@directory_event("directory.PersonManagerChanged", "Person")
class PersonManagerChangedV1(EventContract):
    """A person's line manager changed."""

    person_id: str = PersonId
    manager_id: str = Field(description="New line manager ('' at the top).")
    previous_manager_id: str = Field(description="Line manager before ('' when none).")
    effective_at: AwareDatetime = EffectiveAt


@directory_event("directory.PersonEmploymentChanged", "Person")
class PersonEmploymentChangedV1(EventContract):
    """A person's employment status or dates changed."""

    person_id: str = PersonId
    employment_status: Status = Field(description="active or on_leave.")
    start_date: date | None = Field(description="First day of employment, if known.")
    leave_date: date | None = Field(description="Planned last day, if known.")
    effective_at: AwareDatetime = EffectiveAt


@directory_event("directory.PersonDeparted", "Person")
class PersonDepartedV1(EventContract):
    """The person has left: their active goals and open feedback requests need a new owner."""

    person_id: str = PersonId
    leave_date: date = Field(description="Last day of employment.")
    manager_id: str = Field(description="Their line manager at departure ('' when none).")
    team_id: str = Field(description="Their team at departure ('' when none).")
    reason: str = PersonalData("Free text from HR ('' when not given).")
    effective_at: AwareDatetime = EffectiveAt


@directory_event("directory.PersonRehired", "Person")
class PersonRehiredV1(EventContract):
    """A person who had left was hired again."""

    person_id: str = PersonId
    start_date: date = Field(description="First day of the new employment.")
    effective_at: AwareDatetime = EffectiveAt


@directory_event("directory.TeamRegistered", "Team")
class TeamRegisteredV1(EventContract):
    """A team (or a department, a team without parent) was created."""

    tenant_id: str = Field(description="Tenant the team belongs to.")
    team_id: str = TeamId
    name: str = Field(description="Team name.")
    parent_team_id: str = Field(description="Parent team; '' for a department (a top team).")
    lead_id: str = Field(description="Person id of the team lead ('' when none).")
    effective_at: AwareDatetime = EffectiveAt


@directory_event("directory.TeamRenamed", "Team")
class TeamRenamedV1(EventContract):
    """A team's name changed."""

    team_id: str = TeamId
    name: str = Field(description="New name.")
    effective_at: AwareDatetime = EffectiveAt


@directory_event("directory.TeamParentChanged", "Team")
class TeamParentChangedV1(EventContract):
    """A team moved under another parent team."""

    team_id: str = TeamId
    parent_team_id: str = Field(description="New parent team ('' makes it a department).")
    previous_parent_team_id: str = Field(description="Parent before ('' when it had none).")
    effective_at: AwareDatetime = EffectiveAt


@directory_event("directory.TeamLeadChanged", "Team")
class TeamLeadChangedV1(EventContract):
    """A team's lead changed."""

    team_id: str = TeamId
    lead_id: str = Field(description="New team lead ('' when none).")
    previous_lead_id: str = Field(description="Lead before ('' when none).")
    effective_at: AwareDatetime = EffectiveAt

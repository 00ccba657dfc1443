"""Public contracts of the directory topic (northstar.directory.v1): one model per event.

Every event names the person or team by the enterprise's id (`person_id` / `team_id`), so a
consumer can keep a replica without knowing our aggregate UUIDs. Fields are never renamed or
retyped without a new schema version. This module depends on pydantic and the envelope only,
so any service can import it.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.shared.envelope import EventEnvelope

CONTRACT_SCHEMA_VERSION = 1
SOURCE = "northstar/directory"
TYPE_PREFIX = "directory."

PersonId = Field(description="The enterprise's id of the person (unique within the tenant).")
TeamId = Field(description="The enterprise's id of the team (unique within the tenant).")
EffectiveAt = Field(description="When the change took effect in the HRIS (or the API call).")
Status = Literal["active", "on_leave", "departed"]


class DirectoryEventContract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PersonRegisteredV1(DirectoryEventContract):
    tenant_id: str = Field(description="Tenant the person belongs to.")
    person_id: str = PersonId
    name: str = Field(description="Full name.")
    email: str = Field(description="Work email address.")
    title: str = Field(description="Job title ('' when unknown).")
    team_id: str = Field(description="Team the person belongs to ('' when none).")
    manager_id: str = Field(description="Person id of the line manager ('' at the top).")
    employment_status: Status = Field(description="active or on_leave (departed comes later).")
    start_date: date | None = Field(description="First day of employment, if known.")
    leave_date: date | None = Field(description="Planned last day, if known.")
    effective_at: AwareDatetime = EffectiveAt


class PersonProfileChangedV1(DirectoryEventContract):
    person_id: str = PersonId
    name: str = Field(description="Full name (new or unchanged).")
    email: str = Field(description="Work email address (new or unchanged).")
    title: str = Field(description="Job title (new or unchanged).")
    effective_at: AwareDatetime = EffectiveAt


class PersonTeamChangedV1(DirectoryEventContract):
    person_id: str = PersonId
    team_id: str = Field(description="New team ('' when none).")
    previous_team_id: str = Field(description="Team before the move ('' when none).")
    effective_at: AwareDatetime = EffectiveAt


class PersonManagerChangedV1(DirectoryEventContract):
    person_id: str = PersonId
    manager_id: str = Field(description="New line manager ('' at the top).")
    previous_manager_id: str = Field(description="Line manager before ('' when none).")
    effective_at: AwareDatetime = EffectiveAt


class PersonEmploymentChangedV1(DirectoryEventContract):
    person_id: str = PersonId
    employment_status: Status = Field(description="active or on_leave.")
    start_date: date | None = Field(description="First day of employment, if known.")
    leave_date: date | None = Field(description="Planned last day, if known.")
    effective_at: AwareDatetime = EffectiveAt


class PersonDepartedV1(DirectoryEventContract):
    """The person has left: their active goals and open feedback requests need a new owner."""

    person_id: str = PersonId
    leave_date: date = Field(description="Last day of employment.")
    manager_id: str = Field(description="Their line manager at departure ('' when none).")
    team_id: str = Field(description="Their team at departure ('' when none).")
    reason: str = Field(description="Free text from HR ('' when not given).")
    effective_at: AwareDatetime = EffectiveAt


class PersonRehiredV1(DirectoryEventContract):
    person_id: str = PersonId
    start_date: date = Field(description="First day of the new employment.")
    effective_at: AwareDatetime = EffectiveAt


class TeamRegisteredV1(DirectoryEventContract):
    tenant_id: str = Field(description="Tenant the team belongs to.")
    team_id: str = TeamId
    name: str = Field(description="Team name.")
    parent_team_id: str = Field(description="Parent team; '' for a department (a top team).")
    lead_id: str = Field(description="Person id of the team lead ('' when none).")
    effective_at: AwareDatetime = EffectiveAt


class TeamRenamedV1(DirectoryEventContract):
    team_id: str = TeamId
    name: str = Field(description="New name.")
    effective_at: AwareDatetime = EffectiveAt


class TeamParentChangedV1(DirectoryEventContract):
    team_id: str = TeamId
    parent_team_id: str = Field(description="New parent team ('' makes it a department).")
    previous_parent_team_id: str = Field(description="Parent before ('' when it had none).")
    effective_at: AwareDatetime = EffectiveAt


class TeamLeadChangedV1(DirectoryEventContract):
    team_id: str = TeamId
    lead_id: str = Field(description="New team lead ('' when none).")
    previous_lead_id: str = Field(description="Lead before ('' when none).")
    effective_at: AwareDatetime = EffectiveAt


DIRECTORY_EVENT_CONTRACTS: dict[str, type[DirectoryEventContract]] = {
    f"{TYPE_PREFIX}{model.__name__.removesuffix('V1')}": model
    for model in (
        PersonRegisteredV1,
        PersonProfileChangedV1,
        PersonTeamChangedV1,
        PersonManagerChangedV1,
        PersonEmploymentChangedV1,
        PersonDepartedV1,
        PersonRehiredV1,
        TeamRegisteredV1,
        TeamRenamedV1,
        TeamParentChangedV1,
        TeamLeadChangedV1,
    )
}

PERSON_DEPARTED = f"{TYPE_PREFIX}PersonDeparted"


def parse_contract(envelope: EventEnvelope) -> DirectoryEventContract:
    """The typed data of a directory envelope (LookupError for a type this release lacks)."""
    contract = DIRECTORY_EVENT_CONTRACTS.get(envelope.type)
    if contract is None or envelope.schema_version != CONTRACT_SCHEMA_VERSION:
        raise LookupError(f"unknown directory event {envelope.type} v{envelope.schema_version}")
    return contract.model_validate(envelope.data)

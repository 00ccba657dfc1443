"""Public contracts of the goals topic: one pydantic model per Goal event, keyed by public type.

Consumers outside Northstar read these shapes, so a field is never renamed or retyped without a
new schema version. `contract_data` turns a domain event into the envelope's `data`.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.goals.domain import Goal

CONTRACT_SCHEMA_VERSION = 1
PUBLIC_TYPE_PREFIX = "goals.Goal"

By = Field(description="Person id of whoever caused the change.")
Reason = Field(description="Why the change was made, in the actor's words.")


class MetricContract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["number", "percentage", "currency", "binary"] = Field(
        description="number, percentage, currency (unit is an ISO 4217 code) or binary milestone."
    )
    direction: Literal["increase", "decrease", "stay_above", "stay_below"] = Field(
        description="increase/decrease to the target, or stay above/below it (a guardrail)."
    )
    start: float = Field(description="Value at the start of the period.")
    target: float = Field(description="Value to reach (or, for a guardrail, the limit).")
    unit: str = Field(description="Unit shown with values, e.g. EUR or tickets.")
    current: float = Field(description="Latest value checked in (the start until then).")


class ContributionContract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    goal_id: UUID = Field(description="Goal this goal contributes to.")
    weight: float = Field(gt=0, description="Weight of this goal among the target's children.")


class GoalEventContract(BaseModel):
    """Fields common to the data of every goals event (the envelope carries id and version)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class GoalCreatedV1(GoalEventContract):
    tenant_id: str = Field(description="Tenant that owns the goal.")
    title: str = Field(description="Short statement of the goal (at most 200 characters).")
    description: str = Field(description="What achieving the goal means.")
    owner_id: str = Field(description="Person id of the owner.")
    team_id: str = Field(description="Team id the goal belongs to.")
    level: Literal["strategy", "company", "team", "personal"] = Field(
        description="strategy marks a strategic objective, a root of alignment."
    )
    start_date: date = Field(description="First day of the goal's period.")
    due_date: date | None = Field(description="Last day of the period; null if open-ended.")
    metric: MetricContract | None = Field(description="The goal's own metric, if any.")
    parent_goal_id: UUID | None = Field(description="Primary parent in the alignment tree.")
    visibility: Literal["public", "team", "private"] = Field(description="Who may see the goal.")
    created_by: str = Field(description="Person id of whoever created the goal.")
    measured_by_own_metric: bool = Field(
        description="True: progress comes from the goal's own measure, not its children."
    )
    recurring: bool = Field(description="True: the goal rolls over into the next period.")
    template_id: UUID | None = Field(description="Template the goal was created from, if any.")
    previous_goal_id: UUID | None = Field(
        description="The goal of the previous period this one rolled over from, if any."
    )


class GoalRenamedV1(GoalEventContract):
    title: str = Field(description="New title.")
    by: str = By


class GoalDescribedV1(GoalEventContract):
    description: str = Field(description="New description.")
    by: str = By


class GoalReassignedV1(GoalEventContract):
    owner_id: str = Field(description="Person id of the new owner.")
    team_id: str = Field(description="Team id the goal now belongs to.")
    by: str = By


class GoalVisibilityChangedV1(GoalEventContract):
    visibility: Literal["public", "team", "private"] = Field(description="New visibility.")
    by: str = By


class GoalActivatedV1(GoalEventContract):
    by: str = By


class GoalCompletedV1(GoalEventContract):
    by: str = By


class GoalCancelledV1(GoalEventContract):
    reason: str = Reason
    by: str = By


class GoalArchivedV1(GoalEventContract):
    by: str = By


class GoalReopenedV1(GoalEventContract):
    reason: str = Reason
    by: str = By


class GoalAlignedV1(GoalEventContract):
    parent_goal_id: UUID = Field(description="New primary parent.")
    previous_parent_goal_id: UUID | None = Field(description="Primary parent before, if any.")
    reason: str = Field(description="Why it was realigned (may be empty for a first alignment).")
    by: str = By


class GoalContributionsSetV1(GoalEventContract):
    contributions: list[ContributionContract] = Field(
        description="The complete set of weighted contributes-to links (replaces the old set)."
    )
    reason: str = Field(description="Why the links changed (may be empty when there were none).")
    by: str = By


class GoalMetricDefinedV1(GoalEventContract):
    metric: MetricContract = Field(description="The metric the goal is now measured by.")
    measured_by_own_metric: bool = Field(
        description="True: progress comes from this metric, not the goal's children."
    )
    by: str = By


class GoalKeyResultAddedV1(GoalEventContract):
    key_result_id: UUID = Field(description="Id of the new key result within the goal.")
    title: str = Field(description="What the key result measures.")
    metric: MetricContract = Field(description="The key result's metric.")
    weight: float = Field(gt=0, description="Weight among the goal's key results.")
    by: str = By


class GoalKeyResultRemovedV1(GoalEventContract):
    key_result_id: UUID = Field(description="Id of the removed key result.")
    reason: str = Reason
    by: str = By


class GoalCheckedInV1(GoalEventContract):
    value: float | None = Field(description="New current value; null for a note-only check-in.")
    confidence: float = Field(ge=0, le=1, description="Owner's confidence of reaching the goal.")
    note: str = Field(description="Free-text note.")
    by: str = By
    key_result_id: UUID | None = Field(description="Key result checked in on; null: the goal.")


class GoalTargetChangedV1(GoalEventContract):
    key_result_id: UUID | None = Field(description="Key result retargeted; null: the goal.")
    old_target: float = Field(description="Target before the change.")
    new_target: float = Field(description="Target after the change.")
    reason: str = Reason
    by: str = By


class GoalDueDateChangedV1(GoalEventContract):
    old_due_date: date | None = Field(description="Due date before the change.")
    new_due_date: date = Field(description="Due date after the change.")
    reason: str = Reason
    by: str = By


class GoalRolledOverV1(GoalEventContract):
    next_goal_id: UUID = Field(description="The same recurring goal for the next period.")
    by: str = By


class GoalFlaggedForReassignmentV1(GoalEventContract):
    departed_person_id: str = Field(description="Person id of the owner who left.")
    manager_id: str = Field(
        description="Their line manager when they left ('' when none): who should reassign it."
    )
    leave_date: date = Field(description="The departed owner's last day.")
    by: str = By


GOAL_EVENT_CONTRACTS: dict[str, type[GoalEventContract]] = {
    f"{PUBLIC_TYPE_PREFIX}{model.__name__.removeprefix('Goal').removesuffix('V1')}": model
    for model in (
        GoalCreatedV1,
        GoalRenamedV1,
        GoalDescribedV1,
        GoalReassignedV1,
        GoalVisibilityChangedV1,
        GoalActivatedV1,
        GoalCompletedV1,
        GoalCancelledV1,
        GoalArchivedV1,
        GoalReopenedV1,
        GoalAlignedV1,
        GoalContributionsSetV1,
        GoalMetricDefinedV1,
        GoalKeyResultAddedV1,
        GoalKeyResultRemovedV1,
        GoalCheckedInV1,
        GoalTargetChangedV1,
        GoalDueDateChangedV1,
        GoalRolledOverV1,
        GoalFlaggedForReassignmentV1,
    )
}


def public_type_name(event_class: type[Goal.Event]) -> str:
    """ "goals.Goal" + the event class name, e.g. Goal.CheckedIn -> "goals.GoalCheckedIn"."""
    return f"{PUBLIC_TYPE_PREFIX}{event_class.__name__}"


def contract_data(event: Goal.Event) -> tuple[str, dict[str, Any]]:
    """The public type name and the validated, JSON-ready data of a Goal domain event."""
    type_name = public_type_name(type(event))
    try:
        contract = GOAL_EVENT_CONTRACTS[type_name]
    except KeyError:
        raise LookupError(f"no public contract for {type(event).__qualname__}") from None
    # Only the contract's fields: the store may attach metadata to events, which stays private.
    fields = {name: getattr(event, name) for name in contract.model_fields}
    return type_name, contract.model_validate(fields).model_dump(mode="json")

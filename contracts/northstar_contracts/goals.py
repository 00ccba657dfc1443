"""Public events of the goals topic (northstar.goals.v1): one model per Goal event.

Consumers outside Northstar read these shapes, so a field is never renamed or retyped in place:
a breaking change is a new schema version with an upcaster (see registry).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import Field

from northstar_contracts.registry import EVENTS, Contract, EventContract, PersonalData

TOPIC = "northstar.goals.v1"
SOURCE = "northstar/goals"
TYPE_PREFIX = "goals.Goal"
AGGREGATE_TYPE = "Goal"

MetricKind = Literal["number", "percentage", "currency", "binary"]
Direction = Literal["increase", "decrease", "stay_above", "stay_below"]
Level = Literal["strategy", "company", "team", "personal"]
Visibility = Literal["public", "team", "private"]
ProgressSource = Literal["metric", "key_results", "children", "kpi"]
KeyResultSource = Literal["metric", "kpi"]
PROGRESS_SOURCE_CHANGED = "goals.GoalProgressSourceChanged"
KEY_RESULT_PROGRESS_SOURCE_CHANGED = "goals.GoalKeyResultProgressSourceChanged"


def goal_event(type_name: str, version: int = 1) -> Callable[[Contract], Contract]:
    return EVENTS.register(type_name, version=version, topic=TOPIC, aggregate_type=AGGREGATE_TYPE)


By = Field(description="Person id of whoever caused the change.")
Reason = Field(description="Why the change was made, in the actor's words.")


class MetricContract(EventContract):
    """How a goal or key result is measured."""

    kind: MetricKind = Field(
        description="number, percentage, currency (unit is an ISO 4217 code) or binary milestone."
    )
    direction: Direction = Field(
        description="increase/decrease to the target, or stay above/below it (a guardrail)."
    )
    start: float = Field(description="Value at the start of the period.")
    target: float = Field(description="Value to reach (or, for a guardrail, the limit).")
    unit: str = Field(description="Unit shown with values, e.g. EUR or tickets.")
    current: float = Field(description="Latest value checked in (the start until then).")


class ContributionContract(EventContract):
    """One weighted contributes-to link."""

    goal_id: UUID = Field(description="Goal this goal contributes to.")
    weight: float = Field(gt=0, description="Weight of this goal among the target's children.")


@goal_event("goals.GoalCreated")
class GoalCreatedV1(EventContract):
    """A goal was created (in draft), with its period, owner, team, level and optional metric."""

    tenant_id: str = Field(description="Tenant that owns the goal.")
    title: str = Field(description="Short statement of the goal (at most 200 characters).")
    description: str = Field(description="What achieving the goal means.")
    owner_id: str = Field(description="Person id of the owner.")
    team_id: str = Field(description="Team id the goal belongs to.")
    level: Level = Field(description="strategy marks a strategic objective, a root of alignment.")
    start_date: date = Field(description="First day of the goal's period.")
    due_date: date | None = Field(description="Last day of the period; null if open-ended.")
    metric: MetricContract | None = Field(description="The goal's own metric, if any.")
    parent_goal_id: UUID | None = Field(description="Primary parent in the alignment tree.")
    visibility: Visibility = Field(description="Who may see the goal.")
    created_by: str = Field(description="Person id of whoever created the goal.")
    measured_by_own_metric: bool = Field(
        description="True: progress comes from the goal's own measure, not its children."
    )
    recurring: bool = Field(description="True: the goal rolls over into the next period.")
    template_id: UUID | None = Field(description="Template the goal was created from, if any.")
    previous_goal_id: UUID | None = Field(
        description="The goal of the previous period this one rolled over from, if any."
    )
    progress_source: ProgressSource | None = Field(
        None,
        description="What drives the goal's progress as its owner chose it: its metric, its "
        "key results, its aligned children or a KPI; null: the default rule (key results if "
        "any, else its metric if any, else its children; docs/goals.md).",
    )
    kpi_id: UUID | None = Field(
        None, description="The KPI whose measurements drive the goal (progress source kpi)."
    )


@goal_event("goals.GoalRenamed")
class GoalRenamedV1(EventContract):
    """The goal's title changed."""

    title: str = Field(description="New title.")
    by: str = By


@goal_event("goals.GoalDescribed")
class GoalDescribedV1(EventContract):
    """The goal's description changed."""

    description: str = Field(description="New description.")
    by: str = By


@goal_event("goals.GoalReassigned")
class GoalReassignedV1(EventContract):
    """The goal has a new owner (and with them, possibly a new team)."""

    owner_id: str = Field(description="Person id of the new owner.")
    team_id: str = Field(description="Team id the goal now belongs to.")
    by: str = By


@goal_event("goals.GoalVisibilityChanged")
class GoalVisibilityChangedV1(EventContract):
    """Who may see the goal changed."""

    visibility: Visibility = Field(description="New visibility.")
    by: str = By


@goal_event("goals.GoalActivated")
class GoalActivatedV1(EventContract):
    """The goal went from draft to active: work on it has started."""

    by: str = By


@goal_event("goals.GoalCompleted")
class GoalCompletedV1(EventContract):
    """The goal was completed."""

    by: str = By


@goal_event("goals.GoalCancelled")
class GoalCancelledV1(EventContract):
    """The goal was cancelled, with the reason."""

    reason: str = Reason
    by: str = By


@goal_event("goals.GoalArchived")
class GoalArchivedV1(EventContract):
    """A completed or cancelled goal was archived (it keeps its outcome)."""

    by: str = By


@goal_event("goals.GoalReopened")
class GoalReopenedV1(EventContract):
    """A completed or cancelled goal is active again, with the reason."""

    reason: str = Reason
    by: str = By


@goal_event("goals.GoalAligned")
class GoalAlignedV1(EventContract):
    """The goal's primary parent in the alignment tree changed."""

    parent_goal_id: UUID = Field(description="New primary parent.")
    previous_parent_goal_id: UUID | None = Field(description="Primary parent before, if any.")
    reason: str = Field(description="Why it was realigned (may be empty for a first alignment).")
    by: str = By


@goal_event("goals.GoalContributionsSet")
class GoalContributionsSetV1(EventContract):
    """The goal's weighted contributes-to links were replaced."""

    contributions: list[ContributionContract] = Field(
        description="The complete set of weighted contributes-to links (replaces the old set)."
    )
    reason: str = Field(description="Why the links changed (may be empty when there were none).")
    by: str = By


@goal_event("goals.GoalMetricDefined")
class GoalMetricDefinedV1(EventContract):
    """The goal is now measured by this metric."""

    metric: MetricContract = Field(description="The metric the goal is now measured by.")
    measured_by_own_metric: bool = Field(
        description="True: progress comes from this metric, not the goal's children."
    )
    by: str = By


@goal_event("goals.GoalMetricChanged")
class GoalMetricChangedV1(EventContract):
    """The goal is measured by another metric from now on, with the reason.

    The new metric starts from its start value: values checked in on the previous metric stay
    in the history but no longer count.
    """

    previous_metric: MetricContract | None = Field(
        description="The metric the goal was measured by before; null if it had none."
    )
    metric: MetricContract = Field(description="The metric the goal is measured by from now on.")
    reason: str = Reason
    by: str = By


@goal_event("goals.GoalKeyResultAdded")
class GoalKeyResultAddedV1(EventContract):
    """A key result was added to the goal."""

    key_result_id: UUID = Field(description="Id of the new key result within the goal.")
    title: str = Field(description="What the key result measures.")
    metric: MetricContract = Field(description="The key result's metric.")
    weight: float = Field(gt=0, description="Weight among the goal's key results.")
    by: str = By


@goal_event("goals.GoalKeyResultRemoved")
class GoalKeyResultRemovedV1(EventContract):
    """A key result was removed from the goal, with the reason."""

    key_result_id: UUID = Field(description="Id of the removed key result.")
    reason: str = Reason
    by: str = By


@goal_event("goals.GoalCheckedIn")
class GoalCheckedInV1(EventContract):
    """A check-in: a new value (or a note only) and the owner's confidence."""

    value: float | None = Field(description="New current value; null for a note-only check-in.")
    confidence: float = Field(ge=0, le=1, description="Owner's confidence of reaching the goal.")
    note: str = PersonalData("Free-text note in the owner's words.")
    by: str = By
    key_result_id: UUID | None = Field(description="Key result checked in on; null: the goal.")
    kpi_id: UUID | None = Field(
        None,
        description="Set on an automatic check-in: the KPI whose measurement it records (the "
        "envelope's causation id is that measurement event's id); null: a person's check-in.",
    )
    kpi_period: str | None = Field(
        None, description="Set on an automatic check-in: the KPI period whose value it records."
    )
    kpi_event_id: str | None = Field(
        None,
        description="Set on an automatic check-in: the id of the KPI event it records "
        "(kpi.MeasurementRecorded or kpi.MeasurementCorrected), which the envelope's causation id "
        "names too.",
    )


@goal_event("goals.GoalTargetChanged")
class GoalTargetChangedV1(EventContract):
    """The target of the goal or of one of its key results changed, with the reason."""

    key_result_id: UUID | None = Field(description="Key result retargeted; null: the goal.")
    old_target: float = Field(description="Target before the change.")
    new_target: float = Field(description="Target after the change.")
    reason: str = Reason
    by: str = By


@goal_event("goals.GoalDueDateChanged")
class GoalDueDateChangedV1(EventContract):
    """The goal's due date changed, with the reason."""

    old_due_date: date | None = Field(description="Due date before the change.")
    new_due_date: date = Field(description="Due date after the change.")
    reason: str = Reason
    by: str = By


@goal_event("goals.GoalRolledOver")
class GoalRolledOverV1(EventContract):
    """A recurring goal was rolled over into the next period's goal."""

    next_goal_id: UUID = Field(description="The same recurring goal for the next period.")
    by: str = By


@goal_event("goals.GoalFlaggedForReassignment")
class GoalFlaggedForReassignmentV1(EventContract):
    """The goal's owner left the organisation: someone must reassign it."""

    departed_person_id: str = Field(description="Person id of the owner who left.")
    manager_id: str = Field(
        description="Their line manager when they left ('' when none): who should reassign it."
    )
    leave_date: date = Field(description="The departed owner's last day.")
    by: str = By


@goal_event(PROGRESS_SOURCE_CHANGED)
class GoalProgressSourceChangedV1(EventContract):
    """What drives the goal's progress changed (its metric, key results, children or a KPI)."""

    progress_source: ProgressSource = Field(description="The source from now on.")
    kpi_id: UUID | None = Field(description="The KPI that drives the goal (source kpi only).")
    previous_progress_source: ProgressSource | None = Field(
        description="The source chosen before; null: the default rule applied."
    )
    previous_kpi_id: UUID | None = Field(description="The KPI that drove the goal before, if any.")
    reason: str = Reason
    by: str = By


@goal_event(KEY_RESULT_PROGRESS_SOURCE_CHANGED)
class GoalKeyResultProgressSourceChangedV1(EventContract):
    """What drives one key result's value changed: its own check-ins (metric) or a KPI."""

    key_result_id: UUID = Field(description="Id of the key result within the goal.")
    progress_source: KeyResultSource = Field(description="The source from now on.")
    kpi_id: UUID | None = Field(
        description="The KPI whose measurements check in on the key result (source kpi only)."
    )
    previous_progress_source: KeyResultSource | None = Field(
        description="The source before; null: chosen as the key result was added (recorded "
        "right after its goals.GoalKeyResultAdded)."
    )
    previous_kpi_id: UUID | None = Field(
        description="The KPI that drove the key result before, if any."
    )
    reason: str = Reason
    by: str = By

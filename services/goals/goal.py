"""The Goal aggregate: metric, key results, alignment links, check-ins and lifecycle.

Every public command validates first and only then triggers its event, so a refused command
records nothing. Event attributes and aggregate state are plain values (str, float, UUID, date,
lists and dicts of those), so events and snapshots store with the JSON transcoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, CommandMethodDecorator, DomainEvent, event
from eventsourcing.utils import register_topic

from services.goals.goal_alignment import AlignmentCommands
from services.goals.goal_lifecycle import LifecycleCommands
from services.goals.goal_measurement import MeasurementCommands
from services.goals.goal_ownership import OwnershipCommands
from services.goals.goal_state import EVENT_APPLIERS, GoalState
from services.goals.goal_values import CheckedCreation, plain_metric_data
from services.goals.metrics import Metric
from services.goals.rules import DRAFT


class Goal(LifecycleCommands, OwnershipCommands, AlignmentCommands, MeasurementCommands, Aggregate):
    """A goal of a person, a team, the company, or a strategic objective at the root."""

    # Class-level defaults: snapshots taken before this state existed still load.
    _reassignment: dict[str, Any] | None = None
    metric_checked_in = False  # whether any check-in gave the goal's own metric a value
    # The owner's choice of what drives progress; None: the default rule (goals recorded before
    # progress sources existed load with it too).
    chosen_progress_source: str | None = None
    kpi_id: UUID | None = None
    # KPI id -> {"version": KPI event version, "period": period} of the last measurement an
    # automatic check-in recorded: a redelivered or older measurement records nothing.
    _kpi_applied: dict[str, dict[str, Any]] | None = None

    class Event(Aggregate.Event):
        pass

    class Created(Event, Aggregate.Created):
        tenant_id: str
        title: str
        description: str
        owner_id: str
        team_id: str
        level: str
        start_date: date
        due_date: date | None
        metric: dict[str, Any] | None
        parent_goal_id: UUID | None
        visibility: str
        created_by: str
        measured_by_own_metric: bool
        recurring: bool
        template_id: UUID | None
        previous_goal_id: UUID | None
        # Defaults: events stored before progress sources existed still publish and load.
        progress_source: str | None = None
        kpi_id: UUID | None = None

    class ProgressSourceChanged(Event):
        progress_source: str
        kpi_id: UUID | None
        previous_progress_source: str | None
        previous_kpi_id: UUID | None
        reason: str
        by: str

    class KeyResultProgressSourceChanged(Event):
        key_result_id: UUID
        progress_source: str
        kpi_id: UUID | None
        previous_progress_source: str | None
        previous_kpi_id: UUID | None
        reason: str
        by: str

    class Renamed(Event):
        title: str
        by: str

    class Described(Event):
        description: str
        by: str

    class Reassigned(Event):
        owner_id: str
        team_id: str
        by: str

    class VisibilityChanged(Event):
        visibility: str
        by: str

    class Activated(Event):
        by: str

    class Completed(Event):
        by: str

    class Cancelled(Event):
        reason: str
        by: str

    class Archived(Event):
        by: str

    class Reopened(Event):
        reason: str
        by: str

    class Aligned(Event):
        parent_goal_id: UUID
        previous_parent_goal_id: UUID | None
        reason: str
        by: str

    class ContributionsSet(Event):
        contributions: list[dict[str, Any]]
        reason: str
        by: str

    class MetricDefined(Event):
        metric: dict[str, Any]
        measured_by_own_metric: bool
        by: str

    class MetricChanged(Event):
        previous_metric: dict[str, Any] | None
        metric: dict[str, Any]
        reason: str
        by: str

    class KeyResultAdded(Event):
        key_result_id: UUID
        title: str
        metric: dict[str, Any]
        weight: float
        by: str

    class KeyResultRemoved(Event):
        key_result_id: UUID
        reason: str
        by: str

    class CheckedIn(Event):
        value: float | None
        confidence: float
        note: str
        by: str
        key_result_id: UUID | None
        # Set on automatic check-ins of a KPI's measurement (defaults: older stored events).
        kpi_id: UUID | None = None
        kpi_period: str | None = None
        kpi_event_id: str | None = None
        kpi_version: int | None = None

    class TargetChanged(Event):
        key_result_id: UUID | None
        old_target: float
        new_target: float
        reason: str
        by: str

    class DueDateChanged(Event):
        old_due_date: date | None
        new_due_date: date
        reason: str
        by: str

    class RolledOver(Event):
        next_goal_id: UUID
        by: str

    class FlaggedForReassignment(Event):
        departed_person_id: str
        manager_id: str
        leave_date: date
        by: str

    # No "*": eventsourcing 9.5 treats keyword-only parameters with defaults as required.
    # Callers pass keywords all the same.
    @event(Created)
    def __init__(
        self,
        tenant_id: str,
        title: str,
        description: str,
        owner_id: str,
        team_id: str,
        level: str,
        start_date: date,
        due_date: date | None,
        metric: Metric | Mapping[str, Any] | None,
        parent_goal_id: UUID | None,
        visibility: str,
        created_by: str,
        measured_by_own_metric: bool = False,
        recurring: bool = False,
        template_id: UUID | None = None,
        previous_goal_id: UUID | None = None,
        progress_source: str | None = None,
        kpi_id: UUID | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.title = title
        self.description = description
        self.owner_id = owner_id
        self.team_id = team_id
        self.level = level
        self.start_date = start_date
        self.due_date = due_date
        self._metric = plain_metric_data(metric)
        self.parent_goal_id = parent_goal_id
        self.visibility = visibility
        self.created_by = created_by
        self.measured_by_own_metric = measured_by_own_metric
        self.recurring = recurring
        self.template_id = template_id
        self.previous_goal_id = previous_goal_id
        self.chosen_progress_source = progress_source
        self.kpi_id = kpi_id
        self.next_goal_id: UUID | None = None
        self.lifecycle = DRAFT
        self.outcome: str | None = None
        self._contributions: list[dict[str, Any]] = []
        self._key_results: list[dict[str, Any]] = []
        self.latest_confidence: float | None = None
        self.check_in_count = 0

    # Goal.create(...): __init__'s parameters, checked before the Created event exists, so a
    # refused creation records nothing; the Metric becomes plain event data. Create goals with
    # it, not Goal(...), which would skip the checks.
    create = CheckedCreation(__init__)

    # ---- events applied: the only place the state changes. The appliers' bodies are
    # GoalState's; each is wired to its event here, on the aggregate class, as eventsourcing
    # needs them (a command calling one triggers the event, which then runs the body) ----

    _activated = event(Activated)(GoalState._activated)
    _completed = event(Completed)(GoalState._completed)
    _cancelled = event(Cancelled)(GoalState._cancelled)
    _archived = event(Archived)(GoalState._archived)
    _reopened = event(Reopened)(GoalState._reopened)
    _renamed = event(Renamed)(GoalState._renamed)
    _described = event(Described)(GoalState._described)
    _reassigned = event(Reassigned)(GoalState._reassigned)
    _flagged_for_reassignment = event(FlaggedForReassignment)(GoalState._flagged_for_reassignment)
    _visibility_changed = event(VisibilityChanged)(GoalState._visibility_changed)
    _aligned = event(Aligned)(GoalState._aligned)
    _contributions_set = event(ContributionsSet)(GoalState._contributions_set)
    _progress_source_changed = event(ProgressSourceChanged)(GoalState._progress_source_changed)
    _metric_defined = event(MetricDefined)(GoalState._metric_defined)
    _metric_changed = event(MetricChanged)(GoalState._metric_changed)
    _key_result_added = event(KeyResultAdded)(GoalState._key_result_added)
    _key_result_removed = event(KeyResultRemoved)(GoalState._key_result_removed)
    _key_result_progress_source_changed = event(KeyResultProgressSourceChanged)(
        GoalState._key_result_progress_source_changed
    )
    _checked_in = event(CheckedIn)(GoalState._checked_in)
    _target_changed = event(TargetChanged)(GoalState._target_changed)
    _due_date_changed = event(DueDateChanged)(GoalState._due_date_changed)
    _rolled_over = event(RolledOver)(GoalState._rolled_over)


# An applier left unwired would change the state without recording an event: refuse to load.
_unwired = [
    name for name in EVENT_APPLIERS if not isinstance(vars(Goal).get(name), CommandMethodDecorator)
]
if _unwired:
    raise TypeError(f"Goal must wire each event applier of GoalState to its event: {_unwired}")

# Stored events and snapshots name their class by the module it was defined in first,
# services.goals.domain: those topics keep resolving to the same classes.
LEGACY_MODULE = "services.goals.domain"
register_topic(f"{LEGACY_MODULE}:Goal", Goal)
for _event_class in vars(Goal).values():
    if isinstance(_event_class, type) and issubclass(_event_class, DomainEvent):
        register_topic(f"{LEGACY_MODULE}:{_event_class.__qualname__}", _event_class)

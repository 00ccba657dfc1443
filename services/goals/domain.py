"""The Goal aggregate: metric, key results, alignment links, check-ins and lifecycle.

Every public command validates first and only then triggers its event, so a refused command
records nothing. Event attributes and aggregate state are plain values (str, float, UUID, date,
lists and dicts of those), so events and snapshots store with the JSON transcoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Self
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, CanInitAggregate, event

from northstar_contracts.progress import (
    DEFAULT_THRESHOLDS,
    GUARDRAIL_DIRECTIONS,
    PROGRESS_SOURCES,
    SOURCE_CHILDREN,
    SOURCE_KPI,
    SOURCES_NEEDING_A_METRIC,
    StatusThresholds,
    derive_status,
    effective_progress_source,
    expected_progress_at,
    metric_progress,
    source_own_progress,
    source_progress,
)
from northstar_contracts.progress import METRIC_KINDS as METRIC_KINDS
from services.goals.metrics import Metric as Metric
from services.goals.metrics import next_period as next_period
from services.goals.metrics import quarter_period as quarter_period
from services.goals.metrics import require_choice, require_finite, require_text, validate_period
from services.goals.metrics import validated_metric as validated_metric
from services.goals.progress_sources import kpi_period_dates, require_progress_source
from services.goals.rules import ACTIVE as ACTIVE
from services.goals.rules import ARCHIVED as ARCHIVED
from services.goals.rules import CANCELLED as CANCELLED
from services.goals.rules import CLOSED_LIFECYCLES as CLOSED_LIFECYCLES
from services.goals.rules import COMPLETED as COMPLETED
from services.goals.rules import DRAFT as DRAFT
from services.goals.rules import LEGAL_TRANSITIONS as LEGAL_TRANSITIONS
from services.goals.rules import LEVELS as LEVELS
from services.goals.rules import LIFECYCLES as LIFECYCLES
from services.goals.rules import MAX_TEXT_LENGTH as MAX_TEXT_LENGTH
from services.goals.rules import MAX_TITLE_LENGTH as MAX_TITLE_LENGTH
from services.goals.rules import OPEN_LIFECYCLES as OPEN_LIFECYCLES
from services.goals.rules import VISIBILITIES as VISIBILITIES
from services.goals.rules import AlignmentCycle as AlignmentCycle
from services.goals.rules import AlignmentTarget as AlignmentTarget
from services.goals.rules import AlignmentTargetClosed as AlignmentTargetClosed
from services.goals.rules import GoalNotActive as GoalNotActive
from services.goals.rules import IllegalTransition as IllegalTransition
from services.goals.rules import ParentLookup as ParentLookup
from services.goals.rules import check_alignment_target as check_alignment_target
from services.goals.rules import would_create_cycle as would_create_cycle
from services.shared.errors import FailedPrecondition, InvalidArgument, NotFound


@dataclass(frozen=True)
class KeyResult:
    """A measurable part of a goal; its progress counts towards the goal by `weight`."""

    key_result_id: UUID
    title: str
    metric: Metric
    weight: float


@dataclass(frozen=True)
class ReassignmentFlag:
    """The goal's owner has left: who, their manager at the time, and their last day."""

    departed_person_id: str
    manager_id: str
    leave_date: date


def _require_team(team_id: str, level: str) -> str:
    """A team id, or '' for none; team-level goals need one."""
    team_id = require_text(team_id, "team_id", max_length=MAX_TITLE_LENGTH, allow_blank=True)
    if level == "team" and not team_id.strip():
        raise InvalidArgument("a team goal needs a team", field="team_id")
    return team_id


def _require_reason(reason: str) -> str:
    return require_text(reason, "reason", max_length=MAX_TEXT_LENGTH).strip()


def _require_actor(by: str) -> str:
    return require_text(by, "by", max_length=MAX_TITLE_LENGTH)


def _require_confidence(confidence: float) -> float:
    value = require_finite(confidence, "confidence")
    if not 0.0 <= value <= 1.0:
        raise InvalidArgument("must lie in [0, 1]", field="confidence")
    return value


class Goal(Aggregate):
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

    @classmethod
    def _create(
        cls,
        event_class: type[CanInitAggregate[UUID]],
        *,
        id: UUID | None = None,
        **kwargs: Any,
    ) -> Self:
        # Goal(...) passes through here before the Created event exists: the one place to
        # refuse bad input for creation and to turn the Metric into plain event data.
        metric = kwargs["metric"]
        if metric is not None:
            metric = Metric.from_data(metric) if isinstance(metric, Mapping) else metric
            kwargs["metric"] = validated_metric(metric).to_data()
        title = require_text(kwargs["title"], "title", max_length=MAX_TITLE_LENGTH)
        kwargs["title"] = title.strip()
        require_text(
            kwargs["description"], "description", max_length=MAX_TEXT_LENGTH, allow_blank=True
        )
        for field in ("tenant_id", "owner_id", "created_by"):
            require_text(kwargs[field], field, max_length=MAX_TITLE_LENGTH)
        _require_team(kwargs["team_id"], require_choice(kwargs["level"], LEVELS, "level"))
        require_choice(kwargs["visibility"], VISIBILITIES, "visibility")
        validate_period(kwargs["start_date"], kwargs["due_date"])
        parent_goal_id = kwargs["parent_goal_id"]
        if parent_goal_id is not None and not isinstance(parent_goal_id, UUID):
            raise InvalidArgument("must be a goal id", field="parent_goal_id")
        if parent_goal_id is not None and kwargs["level"] == "strategy":
            raise InvalidArgument(
                "a strategic objective is a root of alignment and has no parent",
                field="parent_goal_id",
            )
        source, kpi_id = require_progress_source(
            kwargs.get("progress_source"),
            kwargs.get("kpi_id"),
            has_metric=True,
            field="progress_source",
        )
        if source in SOURCES_NEEDING_A_METRIC and metric is None:
            raise InvalidArgument(
                f"progress source {source} needs a metric (its start and target)", field="metric"
            )
        kwargs["progress_source"], kwargs["kpi_id"] = source, kpi_id
        # Kept for readers of the older flag: true when the goal's own measure drives it.
        effective = effective_progress_source(
            source, has_metric=metric is not None, has_key_results=False
        )
        kwargs["measured_by_own_metric"] = bool(kwargs.get("measured_by_own_metric")) or (
            effective != SOURCE_CHILDREN
        )
        return super()._create(event_class, id=id, **kwargs)

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
        self._metric = _metric_data(metric)
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

    # ---- state: the plain attributes set in __init__ are read-only by convention (only events
    # change them); metric, key results and links are rebuilt from plain data on reading ----

    @property
    def metric(self) -> Metric | None:
        return None if self._metric is None else Metric.from_data(self._metric)

    @property
    def key_results(self) -> tuple[KeyResult, ...]:
        return tuple(
            KeyResult(
                kr["key_result_id"], kr["title"], Metric.from_data(kr["metric"]), kr["weight"]
            )
            for kr in self._key_results
        )

    @property
    def contributions(self) -> dict[UUID, float]:
        """Contributes-to links: target goal id -> weight of this goal in the target."""
        return {link["goal_id"]: link["weight"] for link in self._contributions}

    @property
    def reassignment(self) -> ReassignmentFlag | None:
        """Set while the goal's owner has left and nobody has taken the goal over yet."""
        flag = self._reassignment
        if flag is None:
            return None
        return ReassignmentFlag(flag["departed_person_id"], flag["manager_id"], flag["leave_date"])

    @property
    def linked_goal_ids(self) -> tuple[UUID, ...]:
        """The primary parent and every contributes-to target (what a cycle check follows)."""
        parent = () if self.parent_goal_id is None else (self.parent_goal_id,)
        return parent + tuple(link["goal_id"] for link in self._contributions)

    # ---- progress and status ----

    @property
    def progress_source(self) -> str:
        """What drives the goal's progress now: the owner's choice, else the default rule."""
        return effective_progress_source(
            self.chosen_progress_source,
            has_metric=self._metric is not None,
            has_key_results=bool(self._key_results),
        )

    @property
    def driven_by_children(self) -> bool:
        return self.progress_source == SOURCE_CHILDREN

    def own_progress(self) -> float | None:
        """Progress of the goal's own measure under its source; None when children drive it."""
        metric = self.metric
        return source_own_progress(
            self.progress_source,
            own_metric_progress=None if metric is None else metric_progress(metric),
            key_results=[(metric_progress(kr.metric), kr.weight) for kr in self.key_results],
        )

    def progress(self, children: Sequence[tuple[float, float]] = ()) -> float:
        """Progress in [0, 1]; `children` are (progress, weight) of goals aligned to this one."""
        metric = self.metric
        return source_progress(
            self.progress_source,
            own_metric_progress=None if metric is None else metric_progress(metric),
            key_results=[(metric_progress(kr.metric), kr.weight) for kr in self.key_results],
            children=children,
        )

    def expected_progress(self, today: date) -> float:
        metric = self.metric
        if (
            metric is not None
            and metric.direction in GUARDRAIL_DIRECTIONS
            and not self._key_results
        ):
            # A guardrail must hold for the whole period, from its first day on.
            return 0.0 if today < self.start_date else 1.0
        return expected_progress_at(self.start_date, self.due_date, today)

    def status(
        self,
        today: date,
        *,
        progress: float | None = None,
        thresholds: StatusThresholds = DEFAULT_THRESHOLDS,
    ) -> str:
        """not_started, on_track, at_risk, off_track, completed or cancelled on `today`.

        `progress` defaults to the goal's own progress; pass the rolled-up one for parents.
        """
        lifecycle = self.outcome if self.lifecycle == ARCHIVED else self.lifecycle
        return derive_status(
            lifecycle=lifecycle or CANCELLED,
            actual=self.progress() if progress is None else progress,
            expected=self.expected_progress(today),
            confidence=self.latest_confidence,
            thresholds=thresholds,
        )

    # ---- lifecycle ----

    def activate(self, by: str) -> None:
        self._require_transition("activate")
        self._activated(by=_require_actor(by))

    def complete(self, by: str) -> None:
        self._require_transition("complete")
        self._completed(by=_require_actor(by))

    def cancel(self, reason: str, by: str) -> None:
        self._require_transition("cancel")
        self._cancelled(reason=_require_reason(reason), by=_require_actor(by))

    def archive(self, by: str) -> None:
        self._require_transition("archive")
        self._archived(by=_require_actor(by))

    def reopen(self, reason: str, by: str) -> None:
        self._require_transition("reopen")
        self._reopened(reason=_require_reason(reason), by=_require_actor(by))

    @event(Activated)
    def _activated(self, by: str) -> None:
        self.lifecycle = ACTIVE

    @event(Completed)
    def _completed(self, by: str) -> None:
        self.lifecycle = self.outcome = COMPLETED

    @event(Cancelled)
    def _cancelled(self, reason: str, by: str) -> None:
        self.lifecycle = self.outcome = CANCELLED

    @event(Archived)
    def _archived(self, by: str) -> None:
        self.lifecycle = ARCHIVED

    @event(Reopened)
    def _reopened(self, reason: str, by: str) -> None:
        self.lifecycle = ACTIVE
        self.outcome = None

    # ---- what the goal says and who owns it ----

    def rename(self, title: str, by: str) -> None:
        self._require_open("renamed")
        title = require_text(title, "title", max_length=MAX_TITLE_LENGTH).strip()
        by = _require_actor(by)
        if title != self.title:
            self._renamed(title=title, by=by)

    def describe(self, description: str, by: str) -> None:
        self._require_open("described")
        description = require_text(
            description, "description", max_length=MAX_TEXT_LENGTH, allow_blank=True
        )
        by = _require_actor(by)
        if description != self.description:
            self._described(description=description, by=by)

    def reassign(self, owner_id: str, team_id: str, by: str) -> None:
        """Give the goal a new owner (and team); this answers a reassignment flag."""
        self._require_open("reassigned")
        owner_id = require_text(owner_id, "owner_id", max_length=MAX_TITLE_LENGTH)
        team_id = _require_team(team_id, self.level)
        by = _require_actor(by)
        if (owner_id, team_id) != (self.owner_id, self.team_id):
            self._reassigned(owner_id=owner_id, team_id=team_id, by=by)

    def flag_for_reassignment(
        self, departed_person_id: str, manager_id: str, leave_date: date, by: str
    ) -> bool:
        """Mark an open goal whose owner has left as needing a new owner; True if recorded.

        Idempotent: flagging again for the same departure records nothing, so a redelivered
        departure event changes nothing.
        """
        self._require_open("flagged for reassignment")
        departed_person_id = require_text(
            departed_person_id, "departed_person_id", max_length=MAX_TITLE_LENGTH
        )
        if departed_person_id != self.owner_id:
            raise FailedPrecondition(
                f"the goal is owned by {self.owner_id}, not {departed_person_id}", field="owner_id"
            )
        manager_id = require_text(
            manager_id, "manager_id", max_length=MAX_TITLE_LENGTH, allow_blank=True
        )
        if not isinstance(leave_date, date):
            raise InvalidArgument("must be a date", field="leave_date")
        by = _require_actor(by)
        flag = self.reassignment
        if flag is not None and flag.departed_person_id == departed_person_id:
            return False
        self._flagged_for_reassignment(
            departed_person_id=departed_person_id,
            manager_id=manager_id,
            leave_date=leave_date,
            by=by,
        )
        return True

    def change_visibility(self, visibility: str, by: str) -> None:
        visibility = require_choice(visibility, VISIBILITIES, "visibility")
        by = _require_actor(by)
        if visibility != self.visibility:
            self._visibility_changed(visibility=visibility, by=by)

    @event(Renamed)
    def _renamed(self, title: str, by: str) -> None:
        self.title = title

    @event(Described)
    def _described(self, description: str, by: str) -> None:
        self.description = description

    @event(Reassigned)
    def _reassigned(self, owner_id: str, team_id: str, by: str) -> None:
        self.owner_id = owner_id
        self.team_id = team_id
        self._reassignment = None

    @event(FlaggedForReassignment)
    def _flagged_for_reassignment(
        self, departed_person_id: str, manager_id: str, leave_date: date, by: str
    ) -> None:
        self._reassignment = {
            "departed_person_id": departed_person_id,
            "manager_id": manager_id,
            "leave_date": leave_date,
        }

    @event(VisibilityChanged)
    def _visibility_changed(self, visibility: str, by: str) -> None:
        self.visibility = visibility

    # ---- alignment ----

    def align(
        self,
        parent_goal_id: UUID,
        reason: str,
        by: str,
        *,
        parent: AlignmentTarget | None = None,
        parent_of: ParentLookup | None = None,
    ) -> None:
        """Make `parent_goal_id` the primary parent; a realignment needs a reason.

        `parent` (the parent's tenant and lifecycle) and `parent_of` (links of other goals)
        come from the application; when given, cross-tenant links, closed parents and cycles
        are refused here.
        """
        self._require_open("aligned")
        if not isinstance(parent_goal_id, UUID):
            raise InvalidArgument("must be a goal id", field="parent_goal_id")
        if self.level == "strategy":
            raise InvalidArgument(
                "a strategic objective is a root of alignment and has no parent",
                field="parent_goal_id",
            )
        if self.parent_goal_id is not None:
            reason = _require_reason(reason)
        else:
            reason = require_text(reason, "reason", max_length=MAX_TEXT_LENGTH, allow_blank=True)
        by = _require_actor(by)
        if parent_goal_id == self.parent_goal_id:
            return
        if parent_goal_id in self.contributions:
            raise InvalidArgument(
                "this goal already contributes to that goal; remove the link first",
                field="parent_goal_id",
            )
        self._check_link(parent_goal_id, parent, parent_of, "parent_goal_id")
        self._aligned(
            parent_goal_id=parent_goal_id,
            previous_parent_goal_id=self.parent_goal_id,
            reason=reason,
            by=by,
        )

    def set_contributions(
        self,
        contributions: Mapping[UUID, float],
        reason: str,
        by: str,
        *,
        targets: Mapping[UUID, AlignmentTarget] | None = None,
        parent_of: ParentLookup | None = None,
    ) -> None:
        """Replace the weighted contributes-to links (an empty mapping removes them all).

        Each weight is a positive finite number: this goal's weight among the target's
        children. Replacing existing links needs a reason.
        """
        self._require_open("realigned")
        links: list[dict[str, Any]] = []
        for goal_id, weight in contributions.items():
            if not isinstance(goal_id, UUID):
                raise InvalidArgument("must be goal ids", field="contributions")
            if require_finite(weight, "contributions.weight") <= 0:
                raise InvalidArgument("a weight must be positive", field="contributions.weight")
            if goal_id == self.parent_goal_id:
                raise InvalidArgument(
                    "the primary parent cannot also be a contributes-to link",
                    field="contributions",
                )
            links.append({"goal_id": goal_id, "weight": float(weight)})
        if self._contributions:
            reason = _require_reason(reason)
        else:
            reason = require_text(reason, "reason", max_length=MAX_TEXT_LENGTH, allow_blank=True)
        by = _require_actor(by)
        if links == self._contributions:
            return
        for link in links:
            target = None if targets is None else targets.get(link["goal_id"])
            if targets is not None and target is None:
                raise NotFound(f"goal {link['goal_id']} not found", field="contributions")
            self._check_link(link["goal_id"], target, parent_of, "contributions")
        self._contributions_set(contributions=links, reason=reason, by=by)

    def _check_link(
        self,
        goal_id: UUID,
        target: AlignmentTarget | None,
        parent_of: ParentLookup | None,
        field: str,
    ) -> None:
        if goal_id == self.id or (
            parent_of is not None and would_create_cycle(self.id, goal_id, parent_of)
        ):
            raise AlignmentCycle(f"linking to goal {goal_id} would create a cycle", field=field)
        if target is not None:
            if target.goal_id != goal_id:
                raise InvalidArgument("describes a different goal", field=field)
            check_alignment_target(self.tenant_id, target, field)

    @event(Aligned)
    def _aligned(
        self, parent_goal_id: UUID, previous_parent_goal_id: UUID | None, reason: str, by: str
    ) -> None:
        self.parent_goal_id = parent_goal_id

    @event(ContributionsSet)
    def _contributions_set(self, contributions: list[dict[str, Any]], reason: str, by: str) -> None:
        self._contributions = [dict(link) for link in contributions]

    # ---- measurement ----

    def define_metric(
        self, metric: Metric, by: str, *, measured_by_own_metric: bool = False
    ) -> None:
        """Give a goal without a metric one (a metric, once defined, changes via change_target)."""
        self._require_open("measured")
        if self._metric is not None:
            raise FailedPrecondition(
                "the goal already has a metric; change its target instead", field="metric"
            )
        data = validated_metric(metric).to_data()
        self._metric_defined(
            metric=data, measured_by_own_metric=bool(measured_by_own_metric), by=_require_actor(by)
        )

    def change_metric(self, metric: Metric, reason: str, by: str) -> None:
        """Measure the goal by another metric (kind, unit, start, target, direction), with a
        reason; the old metric stays in the history. The new metric starts from its start value:
        values checked in on the old one measured something else."""
        self._require_open("measured differently")
        data = validated_metric(
            Metric(metric.kind, metric.direction, metric.start, metric.target, metric.unit)
        ).to_data()
        reason = _require_reason(reason)
        by = _require_actor(by)
        if self._metric is not None and {**self._metric, "current": data["current"]} == data:
            return
        self._metric_changed(previous_metric=self._metric, metric=data, reason=reason, by=by)

    def add_key_result(
        self,
        title: str,
        metric: Metric,
        weight: float,
        by: str,
        *,
        key_result_id: UUID | None = None,
    ) -> UUID:
        """Add a measurable part of the goal; returns its id."""
        self._require_open("given key results")
        title = require_text(title, "key_result.title", max_length=MAX_TITLE_LENGTH).strip()
        data = validated_metric(metric, "key_result.metric").to_data()
        if require_finite(weight, "key_result.weight") <= 0:
            raise InvalidArgument("a weight must be positive", field="key_result.weight")
        by = _require_actor(by)
        new_id = uuid4() if key_result_id is None else key_result_id
        if any(kr["key_result_id"] == new_id for kr in self._key_results):
            raise InvalidArgument("a key result with this id exists", field="key_result_id")
        self._key_result_added(
            key_result_id=new_id, title=title, metric=data, weight=float(weight), by=by
        )
        return new_id

    def remove_key_result(self, key_result_id: UUID, reason: str, by: str) -> None:
        self._require_open("changed")
        self._key_result_data(key_result_id)
        self._key_result_removed(
            key_result_id=key_result_id, reason=_require_reason(reason), by=_require_actor(by)
        )

    def check_in(
        self,
        value: float | None,
        confidence: float,
        note: str,
        by: str,
        key_result_id: UUID | None = None,
    ) -> None:
        """Record a new current value (None: confidence and note only) on the goal or a KR."""
        if self.lifecycle != ACTIVE:
            raise GoalNotActive(
                f"check-ins need an active goal; this one is {self.lifecycle}"
                + (" (activate it first)" if self.lifecycle == DRAFT else "")
            )
        if key_result_id is not None:
            metric_data: dict[str, Any] | None = self._key_result_data(key_result_id)["metric"]
        else:
            metric_data = self._metric
        if value is not None:
            value = require_finite(value, "value")
            if metric_data is None:
                raise FailedPrecondition(
                    "the goal has no metric of its own: check in on a key result, or without "
                    "a value",
                    field="value",
                )
            if key_result_id is None and self.progress_source == SOURCE_KPI:
                raise FailedPrecondition(
                    f"the goal's progress comes from KPI {self.kpi_id}: its measurements check "
                    "in automatically; check in without a value, or change the progress source",
                    field="value",
                )
            if metric_data["kind"] == "binary" and value not in (0.0, 1.0):
                raise InvalidArgument(
                    "a milestone is 0 (not reached) or 1 (reached)", field="value"
                )
        confidence = _require_confidence(confidence)
        note = require_text(note, "note", max_length=MAX_TEXT_LENGTH, allow_blank=True)
        by = _require_actor(by)
        self._checked_in(
            value=value,
            confidence=confidence,
            note=note,
            by=by,
            key_result_id=key_result_id,
            kpi_id=None,
            kpi_period=None,
            kpi_event_id=None,
            kpi_version=None,
        )

    def check_in_kpi_measurement(
        self,
        kpi_id: UUID,
        kpi_version: int,
        period: str,
        value: float,
        by: str,
        *,
        kpi_event_id: str = "",
    ) -> bool:
        """Record a KPI's value for `period` as an automatic check-in; True if recorded.

        Nothing is recorded (False) unless the goal is active and driven by this KPI, and the
        measurement is newer than the last one recorded (a higher KPI event version, for the
        same or a later period), so a redelivered measurement, or a correction of an older
        period, leaves the goal as it is. The check-in keeps the latest confidence a person
        gave (1 before any).
        """
        if self.lifecycle != ACTIVE or self.progress_source != SOURCE_KPI:
            return False
        if self.kpi_id != kpi_id:
            return False
        value = require_finite(value, "value")
        period = require_text(period, "period", max_length=MAX_TITLE_LENGTH)
        if not self._overlaps(kpi_period_dates(period)):
            return False  # a value of a period outside the goal's own says nothing about it
        last = (self._kpi_applied or {}).get(str(kpi_id))
        if last is not None and (kpi_version <= last["version"] or period < last["period"]):
            return False
        confidence = 1.0 if self.latest_confidence is None else self.latest_confidence
        self._checked_in(
            value=value,
            confidence=confidence,
            note="",
            by=_require_actor(by),
            key_result_id=None,
            kpi_id=kpi_id,
            kpi_period=period,
            kpi_event_id=kpi_event_id or None,
            kpi_version=int(kpi_version),
        )
        return True

    def _overlaps(self, dates: tuple[date, date]) -> bool:
        first, last = dates
        return last >= self.start_date and (self.due_date is None or first <= self.due_date)

    def change_progress_source(
        self, progress_source: str, reason: str, by: str, *, kpi_id: UUID | None = None
    ) -> None:
        """Choose what drives the goal's progress from now on; needs a reason (kept in history)."""
        self._require_open("given another progress source")
        chosen, kpi = require_progress_source(
            progress_source, kpi_id, has_metric=self._metric is not None, field="progress_source"
        )
        if chosen is None:
            raise InvalidArgument(
                f"is required: one of {', '.join(PROGRESS_SOURCES)}", field="progress_source"
            )
        reason = _require_reason(reason)
        by = _require_actor(by)
        if (chosen, kpi) == (self.chosen_progress_source, self.kpi_id):
            return
        self._progress_source_changed(
            progress_source=chosen,
            kpi_id=kpi,
            previous_progress_source=self.chosen_progress_source,
            previous_kpi_id=self.kpi_id,
            reason=reason,
            by=by,
        )

    @event(ProgressSourceChanged)
    def _progress_source_changed(
        self,
        progress_source: str,
        kpi_id: UUID | None,
        previous_progress_source: str | None,
        previous_kpi_id: UUID | None,
        reason: str,
        by: str,
    ) -> None:
        self.chosen_progress_source = progress_source
        self.kpi_id = kpi_id

    def change_target(
        self, new_target: float, reason: str, by: str, key_result_id: UUID | None = None
    ) -> None:
        """Move the target of the goal's or a key result's metric; the old one stays in history."""
        self._require_open("retargeted")
        field = "metric" if key_result_id is None else "key_result.metric"
        metric_data = (
            self._metric
            if key_result_id is None
            else (self._key_result_data(key_result_id)["metric"])
        )
        if metric_data is None:
            raise FailedPrecondition("the goal has no metric; define one first", field="metric")
        new_target = require_finite(new_target, "new_target")
        old = Metric.from_data(metric_data)
        validated_metric(
            Metric(old.kind, old.direction, old.start, new_target, old.unit, old.current), field
        )
        reason = _require_reason(reason)
        by = _require_actor(by)
        if new_target != old.target:
            self._target_changed(
                key_result_id=key_result_id,
                old_target=old.target,
                new_target=new_target,
                reason=reason,
                by=by,
            )

    def change_due_date(self, new_due_date: date, reason: str, by: str) -> None:
        """Move the due date; the old one stays in the history."""
        self._require_open("rescheduled")
        if new_due_date is None:
            raise InvalidArgument("a due date cannot be removed", field="due_date")
        validate_period(self.start_date, new_due_date)
        reason = _require_reason(reason)
        by = _require_actor(by)
        if new_due_date != self.due_date:
            self._due_date_changed(
                old_due_date=self.due_date, new_due_date=new_due_date, reason=reason, by=by
            )

    @event(MetricDefined)
    def _metric_defined(
        self, metric: dict[str, Any], measured_by_own_metric: bool, by: str
    ) -> None:
        self._metric = dict(metric)
        self.measured_by_own_metric = measured_by_own_metric

    @event(MetricChanged)
    def _metric_changed(
        self, previous_metric: dict[str, Any] | None, metric: dict[str, Any], reason: str, by: str
    ) -> None:
        self._metric = dict(metric)
        self.metric_checked_in = False

    @event(KeyResultAdded)
    def _key_result_added(
        self, key_result_id: UUID, title: str, metric: dict[str, Any], weight: float, by: str
    ) -> None:
        key_result = {"key_result_id": key_result_id, "title": title, "metric": dict(metric)}
        self._key_results = [*self._key_results, {**key_result, "weight": weight}]

    @event(KeyResultRemoved)
    def _key_result_removed(self, key_result_id: UUID, reason: str, by: str) -> None:
        self._key_results = [kr for kr in self._key_results if kr["key_result_id"] != key_result_id]

    @event(CheckedIn)
    def _checked_in(
        self,
        value: float | None,
        confidence: float,
        note: str,
        by: str,
        key_result_id: UUID | None,
        kpi_id: UUID | None = None,
        kpi_period: str | None = None,
        kpi_event_id: str | None = None,
        kpi_version: int | None = None,
    ) -> None:
        if value is not None:
            self._update_metric(key_result_id, current=value)
            if key_result_id is None:
                self.metric_checked_in = True
        if kpi_id is not None and kpi_version is not None:
            # Replaced, not mutated: a snapshot taken earlier may share this dict.
            applied = {"version": kpi_version, "period": kpi_period or ""}
            self._kpi_applied = {**(self._kpi_applied or {}), str(kpi_id): applied}
        self.latest_confidence = confidence
        self.check_in_count += 1

    @event(TargetChanged)
    def _target_changed(
        self,
        key_result_id: UUID | None,
        old_target: float,
        new_target: float,
        reason: str,
        by: str,
    ) -> None:
        self._update_metric(key_result_id, target=new_target)

    @event(DueDateChanged)
    def _due_date_changed(
        self, old_due_date: date | None, new_due_date: date, reason: str, by: str
    ) -> None:
        self.due_date = new_due_date

    def _update_metric(self, key_result_id: UUID | None, **changes: float) -> None:
        # Replace rather than mutate: a snapshot taken earlier may share these dicts.
        if key_result_id is None:
            assert self._metric is not None
            self._metric = {**self._metric, **changes}
            return
        self._key_results = [
            {**kr, "metric": {**kr["metric"], **changes}}
            if kr["key_result_id"] == key_result_id
            else kr
            for kr in self._key_results
        ]

    # ---- recurring goals ----

    def next_period_arguments(self, by: str) -> dict[str, Any]:
        """Keyword arguments of Goal(...) for this recurring goal's next period.

        The copy starts from scratch: the metric's current value goes back to its start, and
        the new goal remembers this one as its previous goal.
        """
        if not self.recurring:
            raise FailedPrecondition("the goal is not recurring", field="recurring")
        if self.due_date is None:
            raise FailedPrecondition(
                "a goal without a due date has no next period", field="due_date"
            )
        start_date, due_date = next_period(self.start_date, self.due_date)
        metric = self.metric
        return {
            "tenant_id": self.tenant_id,
            "title": self.title,
            "description": self.description,
            "owner_id": self.owner_id,
            "team_id": self.team_id,
            "level": self.level,
            "start_date": start_date,
            "due_date": due_date,
            "metric": None
            if metric is None
            else Metric(metric.kind, metric.direction, metric.start, metric.target, metric.unit),
            "parent_goal_id": self.parent_goal_id,
            "visibility": self.visibility,
            "created_by": _require_actor(by),
            "measured_by_own_metric": self.measured_by_own_metric,
            "progress_source": self.chosen_progress_source,
            "kpi_id": self.kpi_id,
            "recurring": True,
            "template_id": self.template_id,
            "previous_goal_id": self.id,
        }

    def roll_over(self, next_goal_id: UUID, by: str) -> None:
        """Record that the goal for the next period exists; a goal rolls over only once."""
        if not self.recurring:
            raise FailedPrecondition("the goal is not recurring", field="recurring")
        if self.next_goal_id is not None:
            raise FailedPrecondition(
                f"already rolled over to goal {self.next_goal_id}", field="next_goal_id"
            )
        if not isinstance(next_goal_id, UUID) or next_goal_id == self.id:
            raise InvalidArgument("must be the id of another goal", field="next_goal_id")
        self._rolled_over(next_goal_id=next_goal_id, by=_require_actor(by))

    @event(RolledOver)
    def _rolled_over(self, next_goal_id: UUID, by: str) -> None:
        self.next_goal_id = next_goal_id

    # ---- guards ----

    def _require_transition(self, transition: str) -> None:
        allowed = LEGAL_TRANSITIONS[transition]
        if self.lifecycle not in allowed:
            raise IllegalTransition(
                f"cannot {transition} a goal that is {self.lifecycle} "
                f"(only from {', '.join(allowed)})"
            )

    def _require_open(self, action: str) -> None:
        if self.lifecycle not in OPEN_LIFECYCLES:
            raise GoalNotActive(f"a {self.lifecycle} goal cannot be {action}; reopen it first")

    def _key_result_data(self, key_result_id: UUID) -> dict[str, Any]:
        for key_result in self._key_results:
            if key_result["key_result_id"] == key_result_id:
                return key_result
        raise NotFound(f"key result {key_result_id} not found on this goal", field="key_result_id")


def _metric_data(metric: Metric | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if metric is None:
        return None
    return metric.to_data() if isinstance(metric, Metric) else dict(metric)

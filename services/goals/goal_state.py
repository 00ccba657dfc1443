"""A goal's state as its commands and readers see it: progress, status and guards."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from northstar_contracts.progress import (
    DEFAULT_THRESHOLDS,
    GUARDRAIL_DIRECTIONS,
    SOURCE_CHILDREN,
    SOURCE_METRIC,
    StatusThresholds,
    derive_status,
    effective_progress_source,
    expected_progress_at,
    metric_progress,
    source_own_progress,
    source_progress,
)
from services.goals.goal_values import (
    KeyResult,
    ReassignmentFlag,
)
from services.goals.metrics import (
    Metric,
)
from services.goals.rules import (
    ACTIVE,
    ARCHIVED,
    CANCELLED,
    COMPLETED,
    LEGAL_TRANSITIONS,
    OPEN_LIFECYCLES,
    GoalNotActive,
    IllegalTransition,
)
from services.shared.errors import NotFound

Applier = TypeVar("Applier", bound=Callable[..., None])
EVENT_APPLIERS: list[str] = []
"""The names of GoalState's event appliers: Goal must wire each to its event (checked)."""


def event_applier(body: Applier) -> Applier:
    """Marks how one event changes a goal's state (the body of Goal's @event method)."""
    EVENT_APPLIERS.append(body.__name__)
    return body


class GoalState:
    """What a goal knows and shows: its state, progress and status, and the guards of commands.

    The command mixins build on it. The state changes only as an event is applied: the
    appliers' bodies are at the end (one signature each, which the mixins call and mypy checks),
    and Goal (services/goals/goal.py) wires each to its event class with @event, on the
    aggregate class as eventsourcing needs, so calling one triggers and records its event.
    """

    if TYPE_CHECKING:
        # Set by Goal's events (Goal.__init__ and the appliers); declared here for the mixins.
        @property
        def id(self) -> UUID: ...

        tenant_id: str
        title: str
        description: str
        owner_id: str
        team_id: str
        level: str
        start_date: date
        due_date: date | None
        _metric: dict[str, Any] | None
        parent_goal_id: UUID | None
        visibility: str
        created_by: str
        measured_by_own_metric: bool
        recurring: bool
        template_id: UUID | None
        previous_goal_id: UUID | None
        chosen_progress_source: str | None
        kpi_id: UUID | None
        next_goal_id: UUID | None
        lifecycle: str
        outcome: str | None
        _contributions: list[dict[str, Any]]
        _key_results: list[dict[str, Any]]
        latest_confidence: float | None
        check_in_count: int
        metric_checked_in: bool
        _reassignment: dict[str, Any] | None
        _kpi_applied: dict[str, dict[str, Any]] | None

    # ---- state: the plain attributes set in __init__ are read-only by convention (only events
    # change them); metric, key results and links are rebuilt from plain data on reading ----

    @property
    def metric(self) -> Metric | None:
        return None if self._metric is None else Metric.from_data(self._metric)

    @property
    def key_results(self) -> tuple[KeyResult, ...]:
        return tuple(
            KeyResult(
                kr["key_result_id"],
                kr["title"],
                Metric.from_data(kr["metric"]),
                kr["weight"],
                # Key results recorded before they had sources are measured by their metric.
                kr.get("progress_source") or SOURCE_METRIC,
                kr.get("kpi_id"),
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

    # ---- how each event changes the state: Goal wires each of these to its event (@event),
    # so calling one triggers the event and the body runs as the event is applied ----

    @event_applier
    def _activated(self, by: str) -> None:
        self.lifecycle = ACTIVE

    @event_applier
    def _completed(self, by: str) -> None:
        self.lifecycle = self.outcome = COMPLETED

    @event_applier
    def _cancelled(self, reason: str, by: str) -> None:
        self.lifecycle = self.outcome = CANCELLED

    @event_applier
    def _archived(self, by: str) -> None:
        self.lifecycle = ARCHIVED

    @event_applier
    def _reopened(self, reason: str, by: str) -> None:
        self.lifecycle = ACTIVE
        self.outcome = None

    @event_applier
    def _renamed(self, title: str, by: str) -> None:
        self.title = title

    @event_applier
    def _described(self, description: str, by: str) -> None:
        self.description = description

    @event_applier
    def _reassigned(self, owner_id: str, team_id: str, by: str) -> None:
        self.owner_id = owner_id
        self.team_id = team_id
        self._reassignment = None

    @event_applier
    def _flagged_for_reassignment(
        self, departed_person_id: str, manager_id: str, leave_date: date, by: str
    ) -> None:
        self._reassignment = {
            "departed_person_id": departed_person_id,
            "manager_id": manager_id,
            "leave_date": leave_date,
        }

    @event_applier
    def _visibility_changed(self, visibility: str, by: str) -> None:
        self.visibility = visibility

    @event_applier
    def _aligned(
        self, parent_goal_id: UUID, previous_parent_goal_id: UUID | None, reason: str, by: str
    ) -> None:
        self.parent_goal_id = parent_goal_id

    @event_applier
    def _contributions_set(self, contributions: list[dict[str, Any]], reason: str, by: str) -> None:
        self._contributions = [dict(link) for link in contributions]

    @event_applier
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

    @event_applier
    def _metric_defined(
        self, metric: dict[str, Any], measured_by_own_metric: bool, by: str
    ) -> None:
        self._metric = dict(metric)
        self.measured_by_own_metric = measured_by_own_metric

    @event_applier
    def _metric_changed(
        self, previous_metric: dict[str, Any] | None, metric: dict[str, Any], reason: str, by: str
    ) -> None:
        self._metric = dict(metric)
        self.metric_checked_in = False

    @event_applier
    def _key_result_added(
        self, key_result_id: UUID, title: str, metric: dict[str, Any], weight: float, by: str
    ) -> None:
        key_result = {"key_result_id": key_result_id, "title": title, "metric": dict(metric)}
        self._key_results = [*self._key_results, {**key_result, "weight": weight}]

    @event_applier
    def _key_result_removed(self, key_result_id: UUID, reason: str, by: str) -> None:
        self._key_results = [kr for kr in self._key_results if kr["key_result_id"] != key_result_id]

    @event_applier
    def _key_result_progress_source_changed(
        self,
        key_result_id: UUID,
        progress_source: str,
        kpi_id: UUID | None,
        previous_progress_source: str | None,
        previous_kpi_id: UUID | None,
        reason: str,
        by: str,
    ) -> None:
        self._key_results = [
            {**kr, "progress_source": progress_source, "kpi_id": kpi_id}
            if kr["key_result_id"] == key_result_id
            else kr
            for kr in self._key_results
        ]

    @event_applier
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

    @event_applier
    def _target_changed(
        self,
        key_result_id: UUID | None,
        old_target: float,
        new_target: float,
        reason: str,
        by: str,
    ) -> None:
        self._update_metric(key_result_id, target=new_target)

    @event_applier
    def _due_date_changed(
        self, old_due_date: date | None, new_due_date: date, reason: str, by: str
    ) -> None:
        self.due_date = new_due_date

    @event_applier
    def _rolled_over(self, next_goal_id: UUID, by: str) -> None:
        self.next_goal_id = next_goal_id

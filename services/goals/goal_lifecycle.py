"""The Goal's lifecycle commands: activate, complete, cancel, archive, reopen, roll over."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.goals.goal_state import GoalState
from services.goals.goal_values import (
    require_actor,
    require_reason,
)
from services.goals.metrics import (
    Metric,
    next_period,
)
from services.shared.errors import FailedPrecondition, InvalidArgument


class LifecycleCommands(GoalState):
    """Moves a goal through its lifecycle; a recurring goal rolls over to its next period."""

    # ---- lifecycle ----

    def activate(self, by: str) -> None:
        self._require_transition("activate")
        self._activated(by=require_actor(by))

    def complete(self, by: str) -> None:
        self._require_transition("complete")
        self._completed(by=require_actor(by))

    def cancel(self, reason: str, by: str) -> None:
        self._require_transition("cancel")
        self._cancelled(reason=require_reason(reason), by=require_actor(by))

    def archive(self, by: str) -> None:
        self._require_transition("archive")
        self._archived(by=require_actor(by))

    def reopen(self, reason: str, by: str) -> None:
        self._require_transition("reopen")
        self._reopened(reason=require_reason(reason), by=require_actor(by))

    # ---- recurring goals ----

    def next_period_arguments(self, by: str) -> dict[str, Any]:
        """Keyword arguments of Goal.create(...) for this recurring goal's next period.

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
            "created_by": require_actor(by),
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
        self._rolled_over(next_goal_id=next_goal_id, by=require_actor(by))

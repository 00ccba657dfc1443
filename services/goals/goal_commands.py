"""The use cases that change one existing goal, one method each: load the goal once, authorise
the caller on that very state (services.goals.authorization), call one aggregate method, save.

GoalsApplication inherits them; the gRPC servicer calls them with the caller and the request's
values. Refusals come from the aggregate (bad input, lifecycle) or the policy (who may), and a
refused command stores nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from services.goals.goal import Goal
from services.goals.metrics import Metric
from services.shared.auth import Principal
from services.shared.eventstore import CommandContext
from services.shared.save_locks import SerialisedSave

if TYPE_CHECKING:
    from services.goals.application import CommandResult


class _Goals(Protocol):
    """What these use cases need of the application (GoalsApplication has it)."""

    def goal_to_change(
        self, caller: Principal, goal_id: UUID, expected_version: int
    ) -> tuple[Goal, CommandContext]: ...

    def save_goals(
        self,
        context: CommandContext,
        *goals: Goal,
        noted: Mapping[str, Any] | None = None,
        serialised: SerialisedSave | None = None,
    ) -> list[CommandResult]: ...

    def require_known_kpi(self, context: CommandContext, kpi_id: UUID) -> None: ...


class OneGoalCommands:
    """Mixed into GoalsApplication: `expected_version` 0 accepts any version."""

    def check_in(
        self: _Goals,
        caller: Principal,
        goal_id: UUID,
        value: float | None,
        confidence: float,
        note: str,
        *,
        key_result_id: UUID | None = None,
        expected_version: int = 0,
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.check_in(value, confidence, note, caller.subject, key_result_id=key_result_id)
        return self.save_goals(context, goal)[0]

    def change_target(
        self: _Goals,
        caller: Principal,
        goal_id: UUID,
        new_target: float,
        reason: str,
        *,
        expected_version: int = 0,
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.change_target(new_target, reason, caller.subject)
        return self.save_goals(context, goal)[0]

    def change_due_date(
        self: _Goals,
        caller: Principal,
        goal_id: UUID,
        new_due_date: date,
        reason: str,
        *,
        expected_version: int = 0,
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.change_due_date(new_due_date, reason, caller.subject)
        return self.save_goals(context, goal)[0]

    def activate_goal(
        self: _Goals, caller: Principal, goal_id: UUID, *, expected_version: int = 0
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.activate(caller.subject)
        return self.save_goals(context, goal)[0]

    def complete_goal(
        self: _Goals, caller: Principal, goal_id: UUID, *, expected_version: int = 0
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.complete(caller.subject)
        return self.save_goals(context, goal)[0]

    def cancel_goal(
        self: _Goals, caller: Principal, goal_id: UUID, reason: str, *, expected_version: int = 0
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.cancel(reason, caller.subject)
        return self.save_goals(context, goal)[0]

    def archive_goal(
        self: _Goals, caller: Principal, goal_id: UUID, *, expected_version: int = 0
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.archive(caller.subject)
        return self.save_goals(context, goal)[0]

    def reopen_goal(
        self: _Goals, caller: Principal, goal_id: UUID, reason: str, *, expected_version: int = 0
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.reopen(reason, caller.subject)
        return self.save_goals(context, goal)[0]

    def add_key_result(
        self: _Goals,
        caller: Principal,
        goal_id: UUID,
        title: str,
        metric: Metric,
        weight: float,
        *,
        progress_source: str | None = None,
        kpi_id: UUID | None = None,
        expected_version: int = 0,
    ) -> CommandResult:
        """A new key result, measured by its own check-ins unless a KPI of the tenant's is
        named (progress_source kpi)."""
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        if kpi_id is not None:
            self.require_known_kpi(context, kpi_id)
        goal.add_key_result(
            title, metric, weight, caller.subject, progress_source=progress_source, kpi_id=kpi_id
        )
        return self.save_goals(context, goal)[0]

    def change_key_result_progress_source(
        self: _Goals,
        caller: Principal,
        goal_id: UUID,
        key_result_id: UUID,
        progress_source: str,
        reason: str,
        *,
        kpi_id: UUID | None = None,
        expected_version: int = 0,
    ) -> CommandResult:
        """What drives a key result's value from now on; a KPI must be one of the tenant's."""
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        if kpi_id is not None:
            self.require_known_kpi(context, kpi_id)
        goal.change_key_result_progress_source(
            key_result_id, progress_source, reason, caller.subject, kpi_id=kpi_id
        )
        return self.save_goals(context, goal)[0]

    def remove_key_result(
        self: _Goals,
        caller: Principal,
        goal_id: UUID,
        key_result_id: UUID,
        reason: str,
        *,
        expected_version: int = 0,
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.remove_key_result(key_result_id, reason, caller.subject)
        return self.save_goals(context, goal)[0]

    def rename_goal(
        self: _Goals, caller: Principal, goal_id: UUID, title: str, *, expected_version: int = 0
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.rename(title, caller.subject)
        return self.save_goals(context, goal)[0]

    def describe_goal(
        self: _Goals,
        caller: Principal,
        goal_id: UUID,
        description: str,
        *,
        expected_version: int = 0,
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.describe(description, caller.subject)
        return self.save_goals(context, goal)[0]

    def change_goal_visibility(
        self: _Goals,
        caller: Principal,
        goal_id: UUID,
        visibility: str,
        *,
        expected_version: int = 0,
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.change_visibility(visibility, caller.subject)
        return self.save_goals(context, goal)[0]

    def change_metric(
        self: _Goals,
        caller: Principal,
        goal_id: UUID,
        metric: Metric,
        reason: str,
        *,
        expected_version: int = 0,
    ) -> CommandResult:
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        goal.change_metric(metric, reason, caller.subject)
        return self.save_goals(context, goal)[0]

    def change_progress_source(
        self: _Goals,
        caller: Principal,
        goal_id: UUID,
        progress_source: str,
        kpi_id: UUID | None,
        reason: str,
        *,
        expected_version: int = 0,
    ) -> CommandResult:
        """What drives the goal's progress from now on; a KPI must be one of the tenant's."""
        goal, context = self.goal_to_change(caller, goal_id, expected_version)
        if kpi_id is not None:
            self.require_known_kpi(context, kpi_id)
        goal.change_progress_source(progress_source, reason, caller.subject, kpi_id=kpi_id)
        return self.save_goals(context, goal)[0]

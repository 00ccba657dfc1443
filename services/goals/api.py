"""gRPC servicer of the goals service: protobuf <-> application calls, nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

import grpc

from northstar.goals.v1 import goals_pb2, goals_pb2_grpc
from services.goals.application import CommandResult, GoalsApplication
from services.goals.authorization import OrgChart, can_view, require_can_change, require_can_create
from services.goals.domain import Goal, Metric
from services.goals.index import GoalIndex
from services.goals.progress import metric_progress
from services.goals.queries import GoalView, goal_view
from services.shared.auth import Principal, current_principal
from services.shared.errors import InvalidArgument, NotFound
from services.shared.eventstore import CommandContext
from services.shared.validation import (
    page_size,
    parse_date,
    parse_optional_date,
    parse_optional_uuid,
    parse_timestamp,
    parse_uuid,
    require_finite_number,
)

T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]


class GoalServicer(goals_pb2_grpc.GoalServiceServicer):
    def __init__(
        self,
        app: GoalsApplication,
        index: GoalIndex,
        org: OrgChart,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.app = app
        self.index = index
        self.org = org
        self.today = today

    # ---- commands ----

    async def CreateGoal(  # noqa: N802 (gRPC method names)
        self, request: goals_pb2.CreateGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        principal = current_principal()
        owner_id = request.owner_id or principal.subject
        level = request.level or "personal"
        require_can_create(principal, self.org, owner_id=owner_id, level=level)
        metric = (
            _metric_from_proto(request.metric, "metric") if request.HasField("metric") else None
        )
        start_date = parse_date(request.start_date, "start_date")
        due_date = parse_optional_date(request.due_date, "due_date")
        parent_goal_id = parse_optional_uuid(request.parent_goal_id, "parent_goal_id")
        result = await self._run(
            lambda: self.app.create_goal(
                _context(principal),
                title=request.title,
                description=request.description,
                owner_id=owner_id,
                team_id=request.team_id or "unassigned",
                level=level,
                start_date=start_date,
                due_date=due_date,
                metric=metric,
                parent_goal_id=parent_goal_id,
                visibility=request.visibility or "public",
                activate=request.activate,
            )
        )
        return self._command_response(result)

    async def AlignGoal(  # noqa: N802
        self, request: goals_pb2.AlignGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")
        parent_id = parse_uuid(request.parent_goal_id, "parent_goal_id")
        self._require_can_change(principal, goal_id)
        result = await self._run(
            lambda: self.app.align_goal(
                _context(principal), goal_id, parent_id, request.reason, request.expected_version
            )
        )
        return self._command_response(result)

    async def SetContributions(  # noqa: N802
        self, request: goals_pb2.SetContributionsRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")
        links: dict[UUID, float] = {}
        for position, link in enumerate(request.contributions):
            target = parse_uuid(link.goal_id, f"contributions[{position}].goal_id")
            if target in links:
                raise InvalidArgument(
                    f"goal {target} is listed twice", field=f"contributions[{position}].goal_id"
                )
            links[target] = require_finite_number(link.weight, f"contributions[{position}].weight")
        self._require_can_change(principal, goal_id)
        result = await self._run(
            lambda: self.app.set_contributions(
                _context(principal), goal_id, links, request.reason, request.expected_version
            )
        )
        return self._command_response(result)

    async def CheckIn(  # noqa: N802
        self, request: goals_pb2.CheckInRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        key_result_id = parse_optional_uuid(request.key_result_id, "key_result_id")
        value = require_finite_number(request.value, "value")
        confidence = require_finite_number(request.confidence, "confidence")

        def check_in(goal: Goal, by: str) -> None:
            goal.check_in(value, confidence, request.note, by, key_result_id=key_result_id)

        return await self._update(request.goal_id, request.expected_version, check_in)

    async def ChangeTarget(  # noqa: N802
        self, request: goals_pb2.ChangeTargetRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        new_target = require_finite_number(request.new_target, "new_target")
        return await self._update(
            request.goal_id,
            request.expected_version,
            lambda goal, by: goal.change_target(new_target, request.reason, by),
        )

    async def ChangeDueDate(  # noqa: N802
        self, request: goals_pb2.ChangeDueDateRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        new_due = parse_date(request.new_due_date, "new_due_date")
        return await self._update(
            request.goal_id,
            request.expected_version,
            lambda goal, by: goal.change_due_date(new_due, request.reason, by),
        )

    async def ActivateGoal(  # noqa: N802
        self, request: goals_pb2.ActivateGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        return await self._update(
            request.goal_id, request.expected_version, lambda goal, by: goal.activate(by)
        )

    async def CompleteGoal(  # noqa: N802
        self, request: goals_pb2.CompleteGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        return await self._update(
            request.goal_id, request.expected_version, lambda goal, by: goal.complete(by)
        )

    async def CancelGoal(  # noqa: N802
        self, request: goals_pb2.CancelGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        return await self._update(
            request.goal_id,
            request.expected_version,
            lambda goal, by: goal.cancel(request.reason, by),
        )

    async def AddKeyResult(  # noqa: N802
        self, request: goals_pb2.AddKeyResultRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        if not request.HasField("metric"):
            raise InvalidArgument("a key result needs a metric", field="metric")
        metric = _metric_from_proto(request.metric, "metric")
        weight = require_finite_number(request.weight or 1.0, "weight")
        return await self._update(
            request.goal_id,
            request.expected_version,
            lambda goal, by: goal.add_key_result(request.title, metric, weight, by),
        )

    # ---- queries ----

    async def GetGoal(  # noqa: N802
        self, request: goals_pb2.GetGoalRequest, context: Context
    ) -> goals_pb2.Goal:
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")
        if request.version < 0:
            raise InvalidArgument("must not be negative", field="version")
        as_of = parse_timestamp(request.as_of, "as_of") if request.as_of else None
        goal = await asyncio.to_thread(
            self.app.get_goal,
            principal.tenant_id,
            goal_id,
            version=request.version or None,
            as_of=as_of,
        )
        if not can_view(principal, self.org, goal):
            raise NotFound(f"goal {goal_id} not found", field="goal_id")
        return goal_to_proto(await asyncio.to_thread(self._view, goal))

    async def ListGoals(  # noqa: N802
        self, request: goals_pb2.ListGoalsRequest, context: Context
    ) -> goals_pb2.ListGoalsResponse:
        principal = current_principal()
        limit = page_size(request.page_size)
        after = str(parse_uuid(request.page_token, "page_token")) if request.page_token else ""
        rows = await asyncio.to_thread(
            self.index.list_goals,
            principal.tenant_id,
            owner_id=request.owner_id,
            team_id=request.team_id,
            period_start=parse_optional_date(request.period_start, "period_start"),
            period_end=parse_optional_date(request.period_end, "period_end"),
            after_goal_id=after,
            limit=limit,
        )
        response = goals_pb2.ListGoalsResponse()
        for row in rows:
            goal = await asyncio.to_thread(self.app.get_goal, principal.tenant_id, row.goal_id)
            if can_view(principal, self.org, goal):
                response.goals.append(goal_to_proto(await asyncio.to_thread(self._view, goal)))
        if len(rows) == limit:
            response.next_page_token = str(rows[-1].goal_id)
        return response

    # ---- helpers ----

    async def _update(
        self, raw_goal_id: str, expected_version: int, change: Callable[[Goal, str], object]
    ) -> goals_pb2.GoalCommandResponse:
        principal = current_principal()
        goal_id = parse_uuid(raw_goal_id, "goal_id")
        if expected_version < 0:
            raise InvalidArgument("must not be negative", field="expected_version")
        self._require_can_change(principal, goal_id)
        result = await self._run(
            lambda: self.app.update(
                _context(principal),
                goal_id,
                lambda goal: change(goal, principal.subject),
                expected_version,
            )
        )
        return self._command_response(result)

    def _require_can_change(self, principal: Principal, goal_id: UUID) -> None:
        goal = self.app.get_goal(principal.tenant_id, goal_id)
        if not can_view(principal, self.org, goal):
            raise NotFound(f"goal {goal_id} not found", field="goal_id")
        require_can_change(principal, self.org, goal)

    async def _run(self, command: Callable[[], T]) -> T:
        # The event store is synchronous; keep the event loop free for other calls.
        return await asyncio.to_thread(command)

    def _view(self, goal: Goal) -> GoalView:
        return goal_view(self.app, self.index, goal, self.today())

    def _command_response(self, result: CommandResult) -> goals_pb2.GoalCommandResponse:
        return goals_pb2.GoalCommandResponse(
            goal=goal_to_proto(self._view(result.goal)),
            version=result.version,
            position_token=result.position_token,
        )


def _context(principal: Principal) -> CommandContext:
    return CommandContext.new(principal.tenant_id, principal.subject)


def _metric_from_proto(metric: goals_pb2.Metric, field: str) -> Metric:
    if not metric.kind:
        raise InvalidArgument(
            "is required (number, percentage, currency, binary)", field=f"{field}.kind"
        )
    return Metric(
        kind=metric.kind,
        direction=metric.direction or "increase",
        start=require_finite_number(metric.start, f"{field}.start"),
        target=require_finite_number(metric.target, f"{field}.target"),
        unit=metric.unit,
    )


def _metric_to_proto(metric: Metric) -> goals_pb2.Metric:
    return goals_pb2.Metric(
        kind=metric.kind,
        unit=metric.unit,
        start=metric.start,
        target=metric.target,
        direction=metric.direction,
    )


def goal_to_proto(view: GoalView) -> goals_pb2.Goal:
    goal = view.goal
    message = goals_pb2.Goal(
        id=str(goal.id),
        tenant_id=goal.tenant_id,
        title=goal.title,
        description=goal.description,
        owner_id=goal.owner_id,
        team_id=goal.team_id,
        level=goal.level,
        visibility=goal.visibility,
        lifecycle=goal.lifecycle,
        status=view.status,
        start_date=goal.start_date.isoformat(),
        due_date=goal.due_date.isoformat() if goal.due_date else "",
        parent_goal_id=str(goal.parent_goal_id) if goal.parent_goal_id else "",
        progress=view.progress,
        expected_progress=view.expected_progress,
        confidence=goal.latest_confidence or 0.0,
        version=goal.version,
        created_at=goal.created_on.isoformat(),
        updated_at=goal.modified_on.isoformat(),
    )
    metric = goal.metric
    if metric is not None:
        message.metric.CopyFrom(_metric_to_proto(metric))
        message.current = metric.current_value
        message.has_current = metric.current is not None
    for key_result in goal.key_results:
        message.key_results.append(
            goals_pb2.KeyResult(
                id=str(key_result.key_result_id),
                title=key_result.title,
                metric=_metric_to_proto(key_result.metric),
                current=key_result.metric.current_value,
                weight=key_result.weight,
                progress=metric_progress(key_result.metric),
            )
        )
    for target, weight in goal.contributions.items():
        message.contributions.append(goals_pb2.Contribution(goal_id=str(target), weight=weight))
    for letter, criterion in view.smart.criteria.items():
        message.smart.criteria.append(
            goals_pb2.SmartCriterion(letter=letter, held=criterion.held, reason=criterion.reason)
        )
    return message

"""Protobuf <-> domain values for the goals API: metrics, templates and goal views."""

from __future__ import annotations

from northstar.goals.v1 import goals_pb2
from northstar_contracts.progress import metric_progress
from services.goals.application import CommandResult
from services.goals.domain import Metric
from services.goals.planning import GoalTemplate
from services.goals.queries import GoalView
from services.shared.errors import InvalidArgument
from services.shared.validation import (
    parse_date,
    parse_optional_date,
    parse_optional_uuid,
    require_finite_number,
)


def metric_from_proto(metric: goals_pb2.Metric, field: str) -> Metric:
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


def optional_metric(message: goals_pb2.CreateGoalRequest | goals_pb2.GoalTemplate) -> Metric | None:
    return metric_from_proto(message.metric, "metric") if message.HasField("metric") else None


def require_positive_weight(value: float, field: str) -> float:
    """Weights are finite and positive: a zero or negative weight would make a sum of zero."""
    if require_finite_number(value, field) <= 0:
        raise InvalidArgument("must be greater than zero", field=field)
    return value


def template_from_proto(request: goals_pb2.CreateGoalsFromTemplateRequest) -> GoalTemplate:
    if not request.HasField("template"):
        raise InvalidArgument("is required", field="template")
    template = request.template
    metric = (
        metric_from_proto(template.metric, "template.metric")
        if template.HasField("metric")
        else None
    )
    return GoalTemplate(
        title=template.title,
        description=template.description,
        level=template.level or "personal",
        start_date=parse_date(template.start_date, "template.start_date"),
        due_date=parse_optional_date(template.due_date, "template.due_date"),
        metric=metric,
        visibility=template.visibility or "public",
        parent_goal_id=parse_optional_uuid(template.parent_goal_id, "template.parent_goal_id"),
        recurring=template.recurring,
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
        recurring=goal.recurring,
        template_id=str(goal.template_id) if goal.template_id else "",
        previous_goal_id=str(goal.previous_goal_id) if goal.previous_goal_id else "",
        next_goal_id=str(goal.next_goal_id) if goal.next_goal_id else "",
    )
    metric = goal.metric
    if metric is not None:
        message.metric.CopyFrom(_metric_to_proto(metric))
        message.current = metric.current_value
        message.has_current = goal.metric_checked_in
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
    flag = goal.reassignment
    if flag is not None:
        message.reassignment.CopyFrom(
            goals_pb2.ReassignmentFlag(
                departed_person_id=flag.departed_person_id,
                manager_id=flag.manager_id,
                leave_date=flag.leave_date.isoformat(),
            )
        )
    return message


def command_response(result: CommandResult, view: GoalView) -> goals_pb2.GoalCommandResponse:
    return goals_pb2.GoalCommandResponse(
        goal=goal_to_proto(view), version=result.version, position_token=result.position_token
    )


def existing_goals(already: dict[str, object]) -> list[goals_pb2.ExistingGoal]:
    return [goals_pb2.ExistingGoal(owner_id=o, goal_id=str(g)) for o, g in already.items()]

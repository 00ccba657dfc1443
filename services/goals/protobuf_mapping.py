"""Protobuf <-> domain values for the goals API: enums, metrics, templates and goal views.

Each API enum has one table here; the domain and the event contracts keep their strings.
"""

from __future__ import annotations

from northstar.goals.v1 import goals_pb2 as pb
from northstar_contracts import progress
from northstar_contracts.progress import metric_progress
from services.goals import rules
from services.goals.application import CommandResult
from services.goals.metrics import Metric
from services.goals.planning import GoalTemplate
from services.goals.queries import GoalView
from services.shared.errors import InvalidArgument
from services.shared.proto_enums import EnumTable
from services.shared.validation import (
    parse_date,
    parse_optional_date,
    parse_optional_uuid,
    require_finite_number,
)

METRIC_KINDS = EnumTable(
    pb.MetricKind.DESCRIPTOR,
    {
        pb.METRIC_KIND_NUMBER: "number",
        pb.METRIC_KIND_PERCENTAGE: "percentage",
        pb.METRIC_KIND_CURRENCY: "currency",
        pb.METRIC_KIND_BINARY: "binary",
    },
)
METRIC_DIRECTIONS = EnumTable(
    pb.MetricDirection.DESCRIPTOR,
    {
        pb.METRIC_DIRECTION_INCREASE: progress.INCREASE,
        pb.METRIC_DIRECTION_DECREASE: progress.DECREASE,
        pb.METRIC_DIRECTION_STAY_ABOVE: progress.STAY_ABOVE,
        pb.METRIC_DIRECTION_STAY_BELOW: progress.STAY_BELOW,
    },
    default=progress.INCREASE,
)
GOAL_LEVELS = EnumTable(
    pb.GoalLevel.DESCRIPTOR,
    {
        pb.GOAL_LEVEL_STRATEGY: "strategy",
        pb.GOAL_LEVEL_COMPANY: "company",
        pb.GOAL_LEVEL_TEAM: "team",
        pb.GOAL_LEVEL_PERSONAL: "personal",
    },
    default="personal",
)
GOAL_VISIBILITIES = EnumTable(
    pb.GoalVisibility.DESCRIPTOR,
    {
        pb.GOAL_VISIBILITY_PUBLIC: "public",
        pb.GOAL_VISIBILITY_TEAM: "team",
        pb.GOAL_VISIBILITY_PRIVATE: "private",
    },
    default="public",
)
GOAL_LIFECYCLES = EnumTable(
    pb.GoalLifecycle.DESCRIPTOR,
    {
        pb.GOAL_LIFECYCLE_DRAFT: rules.DRAFT,
        pb.GOAL_LIFECYCLE_ACTIVE: rules.ACTIVE,
        pb.GOAL_LIFECYCLE_COMPLETED: rules.COMPLETED,
        pb.GOAL_LIFECYCLE_CANCELLED: rules.CANCELLED,
        pb.GOAL_LIFECYCLE_ARCHIVED: rules.ARCHIVED,
    },
)
GOAL_STATUSES = EnumTable(
    pb.GoalStatus.DESCRIPTOR,
    {
        pb.GOAL_STATUS_NOT_STARTED: progress.NOT_STARTED,
        pb.GOAL_STATUS_ON_TRACK: progress.ON_TRACK,
        pb.GOAL_STATUS_AT_RISK: progress.AT_RISK,
        pb.GOAL_STATUS_OFF_TRACK: progress.OFF_TRACK,
        pb.GOAL_STATUS_COMPLETED: progress.COMPLETED,
        pb.GOAL_STATUS_CANCELLED: progress.CANCELLED,
    },
)
PROGRESS_SOURCES = EnumTable(
    pb.ProgressSource.DESCRIPTOR,
    {
        pb.PROGRESS_SOURCE_METRIC: progress.SOURCE_METRIC,
        pb.PROGRESS_SOURCE_KEY_RESULTS: progress.SOURCE_KEY_RESULTS,
        pb.PROGRESS_SOURCE_CHILDREN: progress.SOURCE_CHILDREN,
        pb.PROGRESS_SOURCE_KPI: progress.SOURCE_KPI,
    },
)
SMART_LETTERS = EnumTable(
    pb.SmartLetter.DESCRIPTOR,
    {
        pb.SMART_LETTER_SPECIFIC: "S",
        pb.SMART_LETTER_MEASURABLE: "M",
        pb.SMART_LETTER_ACHIEVABLE: "A",
        pb.SMART_LETTER_RELEVANT: "R",
        pb.SMART_LETTER_TIME_BOUND: "T",
    },
)


def metric_from_proto(metric: pb.Metric, field: str) -> Metric:
    return Metric(
        kind=METRIC_KINDS.from_request(metric.kind, f"{field}.kind"),
        direction=METRIC_DIRECTIONS.from_request(metric.direction, f"{field}.direction"),
        start=require_finite_number(metric.start, f"{field}.start"),
        target=require_finite_number(metric.target, f"{field}.target"),
        unit=metric.unit,
    )


def optional_metric(message: pb.CreateGoalRequest | pb.GoalTemplate) -> Metric | None:
    return metric_from_proto(message.metric, "metric") if message.HasField("metric") else None


def progress_source_from_request(number: int, field: str) -> str | None:
    """The chosen source; None for PROGRESS_SOURCE_UNSPECIFIED (the default rule)."""
    return None if number == 0 else PROGRESS_SOURCES.from_request(number, field)


def require_positive_weight(value: float, field: str) -> float:
    """Weights are finite and positive: a zero or negative weight would make a sum of zero."""
    if require_finite_number(value, field) <= 0:
        raise InvalidArgument("must be greater than zero", field=field)
    return value


def template_from_proto(request: pb.CreateGoalsFromTemplateRequest) -> GoalTemplate:
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
        level=GOAL_LEVELS.from_request(template.level, "template.level"),
        start_date=parse_date(template.start_date, "template.start_date"),
        due_date=parse_optional_date(template.due_date, "template.due_date"),
        metric=metric,
        visibility=GOAL_VISIBILITIES.from_request(template.visibility, "template.visibility"),
        parent_goal_id=parse_optional_uuid(template.parent_goal_id, "template.parent_goal_id"),
        recurring=template.recurring,
    )


def _metric_to_proto(metric: Metric) -> pb.Metric:
    return pb.Metric(
        kind=METRIC_KINDS.to_proto(metric.kind),
        unit=metric.unit,
        start=metric.start,
        target=metric.target,
        direction=METRIC_DIRECTIONS.to_proto(metric.direction),
    )


def goal_to_proto(view: GoalView) -> pb.Goal:
    goal = view.goal
    message = pb.Goal(
        id=str(goal.id),
        tenant_id=goal.tenant_id,
        title=goal.title,
        description=goal.description,
        owner_id=goal.owner_id,
        team_id=goal.team_id,
        level=GOAL_LEVELS.to_proto(goal.level),
        visibility=GOAL_VISIBILITIES.to_proto(goal.visibility),
        lifecycle=GOAL_LIFECYCLES.to_proto(goal.lifecycle),
        status=GOAL_STATUSES.to_proto(view.status),
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
        progress_source=PROGRESS_SOURCES.to_proto(goal.progress_source),
        progress_source_chosen=goal.chosen_progress_source is not None,
        kpi_id=str(goal.kpi_id) if goal.kpi_id else "",
    )
    metric = goal.metric
    if metric is not None:
        message.metric.CopyFrom(_metric_to_proto(metric))
        message.current = metric.current_value
        message.has_current = goal.metric_checked_in
    for key_result in goal.key_results:
        message.key_results.append(
            pb.KeyResult(
                id=str(key_result.key_result_id),
                title=key_result.title,
                metric=_metric_to_proto(key_result.metric),
                current=key_result.metric.current_value,
                weight=key_result.weight,
                progress=metric_progress(key_result.metric),
                progress_source=PROGRESS_SOURCES.to_proto(key_result.progress_source),
                kpi_id=str(key_result.kpi_id) if key_result.kpi_id else "",
            )
        )
    for target, weight in goal.contributions.items():
        message.contributions.append(pb.Contribution(goal_id=str(target), weight=weight))
    for letter, criterion in view.smart.criteria.items():
        message.smart.criteria.append(
            pb.SmartCriterion(
                letter=SMART_LETTERS.to_proto(letter), held=criterion.held, reason=criterion.reason
            )
        )
    flag = goal.reassignment
    if flag is not None:
        message.reassignment.CopyFrom(
            pb.ReassignmentFlag(
                departed_person_id=flag.departed_person_id,
                manager_id=flag.manager_id,
                leave_date=flag.leave_date.isoformat(),
            )
        )
    return message


def command_response(result: CommandResult, view: GoalView) -> pb.GoalCommandResponse:
    return pb.GoalCommandResponse(
        goal=goal_to_proto(view), version=result.version, position_token=result.position_token
    )


def existing_goals(already: dict[str, object]) -> list[pb.ExistingGoal]:
    return [pb.ExistingGoal(owner_id=o, goal_id=str(g)) for o, g in already.items()]

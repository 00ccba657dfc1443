"""gRPC servicer of the goals service: protobuf <-> application calls, nothing else.

Every call runs its reads, the authorisation policy and the command in one worker thread (the
stores are synchronous), keeping the event loop free for other calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

import grpc
from google.protobuf.message import Message

from northstar.goals.v1 import goals_pb2, goals_pb2_grpc
from services.goals import authorization as policy
from services.goals.application import CommandResult, GoalsApplication
from services.goals.domain import Goal
from services.goals.index import GoalIndex
from services.goals.messages import (
    GOAL_LEVELS,
    GOAL_VISIBILITIES,
    PROGRESS_SOURCES,
    command_response,
    existing_goals,
    goal_to_proto,
    metric_from_proto,
    optional_metric,
    progress_source_from_request,
    require_positive_weight,
    template_from_proto,
)
from services.goals.people import Directory
from services.goals.planning import GoalPlanning
from services.goals.queries import (
    GoalFilter,
    GoalView,
    decode_page_token,
    encode_page_token,
    goal_view,
    smart_summaries,
    visible_goals_page,
)
from services.shared.auth import Principal, current_principal
from services.shared.errors import InvalidArgument, NorthstarError
from services.shared.eventstore import CommandContext
from services.shared.idempotency import REQUEST_ID_FIELD, parse_request_id, run_once
from services.shared.position import encode_position_token
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
GoalCommand = (
    goals_pb2.CheckInRequest
    | goals_pb2.ChangeTargetRequest
    | goals_pb2.ChangeDueDateRequest
    | goals_pb2.ActivateGoalRequest
    | goals_pb2.CompleteGoalRequest
    | goals_pb2.CancelGoalRequest
    | goals_pb2.ArchiveGoalRequest
    | goals_pb2.ReopenGoalRequest
    | goals_pb2.AddKeyResultRequest
    | goals_pb2.RenameGoalRequest
    | goals_pb2.DescribeGoalRequest
    | goals_pb2.ChangeGoalVisibilityRequest
    | goals_pb2.ChangeMetricRequest
    | goals_pb2.RemoveKeyResultRequest
    | goals_pb2.AlignGoalRequest
    | goals_pb2.SetContributionsRequest
    | goals_pb2.ReassignGoalRequest
)
"""A command on one goal: each names goal_id, expected_version and request_id."""


class GoalServicer(goals_pb2_grpc.GoalServiceServicer):
    def __init__(
        self,
        app: GoalsApplication,
        index: GoalIndex,
        org: Directory,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.app = app
        self.index = index
        self.org = org
        self.planning = GoalPlanning(app, index)
        self.today = today

    # ---- commands on one goal ----

    async def CreateGoal(  # noqa: N802 (gRPC method names)
        self, request: goals_pb2.CreateGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        principal = current_principal()
        owner_id = request.owner_id or principal.subject
        level = GOAL_LEVELS.from_request(request.level, "level")
        visibility = GOAL_VISIBILITIES.from_request(request.visibility, "visibility")
        metric = optional_metric(request)
        start_date = parse_date(request.start_date, "start_date")
        due_date = parse_optional_date(request.due_date, "due_date")
        parent_goal_id = parse_optional_uuid(request.parent_goal_id, "parent_goal_id")
        progress_source = progress_source_from_request(request.progress_source, "progress_source")
        kpi_id = parse_optional_uuid(request.kpi_id, "kpi_id")

        def create() -> goals_pb2.GoalCommandResponse:
            policy.require_can_create(principal, self.org, owner_id=owner_id, level=level)
            result = self.app.create_goal(
                _context(principal),
                title=request.title,
                description=request.description,
                owner_id=owner_id,
                team_id=request.team_id,
                level=level,
                start_date=start_date,
                due_date=due_date,
                metric=metric,
                parent_goal_id=parent_goal_id,
                visibility=visibility,
                activate=request.activate,
                recurring=request.recurring,
                progress_source=progress_source,
                kpi_id=kpi_id,
            )
            return self._response(result)

        return await self._once(principal, request, create, self._one_goal_again(principal))

    async def AlignGoal(  # noqa: N802
        self, request: goals_pb2.AlignGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        parse_uuid(request.goal_id, "goal_id")  # the goal first, then its parent
        parent_id = parse_uuid(request.parent_goal_id, "parent_goal_id")
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.align_goal(
                caller, goal_id, parent_id, request.reason, version
            ),
        )

    async def SetContributions(  # noqa: N802
        self, request: goals_pb2.SetContributionsRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        parse_uuid(request.goal_id, "goal_id")  # the goal first, then its links
        links: dict[UUID, float] = {}
        for position, link in enumerate(request.contributions):
            field = f"contributions[{position}]"
            target = parse_uuid(link.goal_id, f"{field}.goal_id")
            if target in links:
                raise InvalidArgument(f"goal {target} is listed twice", field=f"{field}.goal_id")
            links[target] = require_positive_weight(link.weight, f"{field}.weight")
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.set_contributions(
                caller, goal_id, links, request.reason, version
            ),
        )

    async def CheckIn(  # noqa: N802
        self, request: goals_pb2.CheckInRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        key_result_id = parse_optional_uuid(request.key_result_id, "key_result_id")
        value = require_finite_number(request.value, "value")
        confidence = require_finite_number(request.confidence, "confidence")
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.check_in(
                caller,
                goal_id,
                value,
                confidence,
                request.note,
                key_result_id=key_result_id,
                expected_version=version,
            ),
        )

    async def ChangeTarget(  # noqa: N802
        self, request: goals_pb2.ChangeTargetRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        new_target = require_finite_number(request.new_target, "new_target")
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.change_target(
                caller, goal_id, new_target, request.reason, expected_version=version
            ),
            request_fields={"metric.target": "new_target"},
        )

    async def ChangeDueDate(  # noqa: N802
        self, request: goals_pb2.ChangeDueDateRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        new_due = parse_date(request.new_due_date, "new_due_date")
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.change_due_date(
                caller, goal_id, new_due, request.reason, expected_version=version
            ),
            request_fields={"due_date": "new_due_date"},
        )

    async def ActivateGoal(  # noqa: N802
        self, request: goals_pb2.ActivateGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.activate_goal(
                caller, goal_id, expected_version=version
            ),
        )

    async def CompleteGoal(  # noqa: N802
        self, request: goals_pb2.CompleteGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.complete_goal(
                caller, goal_id, expected_version=version
            ),
        )

    async def CancelGoal(  # noqa: N802
        self, request: goals_pb2.CancelGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.cancel_goal(
                caller, goal_id, request.reason, expected_version=version
            ),
        )

    async def ArchiveGoal(  # noqa: N802
        self, request: goals_pb2.ArchiveGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.archive_goal(
                caller, goal_id, expected_version=version
            ),
        )

    async def ReopenGoal(  # noqa: N802
        self, request: goals_pb2.ReopenGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.reopen_goal(
                caller, goal_id, request.reason, expected_version=version
            ),
        )

    async def AddKeyResult(  # noqa: N802
        self, request: goals_pb2.AddKeyResultRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        if not request.HasField("metric"):
            raise InvalidArgument("a key result needs a metric", field="metric")
        metric = metric_from_proto(request.metric, "metric")
        weight = (
            require_positive_weight(request.weight, "weight") if request.HasField("weight") else 1.0
        )
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.add_key_result(
                caller, goal_id, request.title, metric, weight, expected_version=version
            ),
            request_fields={"key_result.title": "title", "key_result.metric": "metric"},
        )

    async def RenameGoal(  # noqa: N802
        self, request: goals_pb2.RenameGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.rename_goal(
                caller, goal_id, request.title, expected_version=version
            ),
        )

    async def DescribeGoal(  # noqa: N802
        self, request: goals_pb2.DescribeGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.describe_goal(
                caller, goal_id, request.description, expected_version=version
            ),
        )

    async def ChangeGoalVisibility(  # noqa: N802
        self, request: goals_pb2.ChangeGoalVisibilityRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        if request.visibility == goals_pb2.GOAL_VISIBILITY_UNSPECIFIED:
            # A change names where it goes: "not set" has no meaning here, unlike at creation.
            raise InvalidArgument(
                f"is required: one of {GOAL_VISIBILITIES.accepted_names()}", field="visibility"
            )
        visibility = GOAL_VISIBILITIES.from_request(request.visibility, "visibility")
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.change_goal_visibility(
                caller, goal_id, visibility, expected_version=version
            ),
        )

    async def ChangeMetric(  # noqa: N802
        self, request: goals_pb2.ChangeMetricRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        if not request.HasField("metric"):
            raise InvalidArgument("is required", field="metric")
        metric = metric_from_proto(request.metric, "metric")
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.change_metric(
                caller, goal_id, metric, request.reason, expected_version=version
            ),
        )

    async def RemoveKeyResult(  # noqa: N802
        self, request: goals_pb2.RemoveKeyResultRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        key_result_id = parse_uuid(request.key_result_id, "key_result_id")
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.remove_key_result(
                caller, goal_id, key_result_id, request.reason, expected_version=version
            ),
        )

    async def ReassignGoal(  # noqa: N802
        self, request: goals_pb2.ReassignGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        if not request.owner_id:
            parse_uuid(request.goal_id, "goal_id")  # a bad goal id is named first
            raise InvalidArgument("is required", field="owner_id")
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.reassign_goal(
                caller, goal_id, request.owner_id, request.team_id, version
            ),
        )

    async def ChangeProgressSource(  # noqa: N802
        self, request: goals_pb2.ChangeProgressSourceRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")
        source = PROGRESS_SOURCES.from_request(request.progress_source, "progress_source")
        kpi_id = parse_optional_uuid(request.kpi_id, "kpi_id")
        _require_version(request.expected_version)

        def change() -> goals_pb2.GoalCommandResponse:
            self._require_can_change(principal, goal_id)
            result = self.app.change_progress_source(
                _context(principal),
                goal_id,
                source,
                kpi_id,
                request.reason,
                request.expected_version,
            )
            return self._response(result)

        return await self._once(principal, request, change, self._one_goal_again(principal))

    # ---- commands that create several goals ----

    async def CascadeGoal(  # noqa: N802
        self, request: goals_pb2.CascadeGoalRequest, context: Context
    ) -> goals_pb2.CascadeGoalResponse:
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")

        def cascade() -> goals_pb2.CascadeGoalResponse:
            team_goal = self.app.get_goal(principal.tenant_id, goal_id)
            policy.require_can_view(principal, self.org, team_goal, "goal_id")
            members = self.org.team_members(principal.tenant_id, team_goal.team_id)
            policy.require_can_cascade(principal, self.org, team_goal, members)
            result = self.planning.cascade_goal(
                _context(principal), goal_id, members, activate=request.activate
            )
            return goals_pb2.CascadeGoalResponse(
                created=[self._response(created) for created in result.created],
                already_cascaded=existing_goals(dict(result.already_there)),
            )

        def cascade_again(result: Mapping[str, Any]) -> goals_pb2.CascadeGoalResponse:
            return goals_pb2.CascadeGoalResponse(
                created=[self._response(saved) for saved in self._saved(principal, result)],
                already_cascaded=existing_goals(result["already_there"]),
            )

        return await self._once(principal, request, cascade, cascade_again)

    async def CreateGoalsFromTemplate(  # noqa: N802
        self, request: goals_pb2.CreateGoalsFromTemplateRequest, context: Context
    ) -> goals_pb2.CreateGoalsFromTemplateResponse:
        principal = current_principal()
        template = template_from_proto(request)
        template_id = parse_optional_uuid(request.template_id, "template_id")
        owner_ids = list(request.owner_ids)

        def create() -> goals_pb2.CreateGoalsFromTemplateResponse:
            for owner_id in owner_ids:
                policy.require_can_create(
                    principal, self.org, owner_id=owner_id, level=template.level
                )
            result = self.planning.create_goals_from_template(
                _context(principal),
                template,
                owner_ids,
                template_id=template_id,
                activate=request.activate,
            )
            return goals_pb2.CreateGoalsFromTemplateResponse(
                template_id=str(result.template_id),
                created=[self._response(created) for created in result.created],
                already_created=existing_goals(dict(result.already_there)),
            )

        def create_again(result: Mapping[str, Any]) -> goals_pb2.CreateGoalsFromTemplateResponse:
            return goals_pb2.CreateGoalsFromTemplateResponse(
                template_id=result["template_id"],
                created=[self._response(saved) for saved in self._saved(principal, result)],
                already_created=existing_goals(result["already_there"]),
            )

        return await self._once(principal, request, create, create_again)

    async def RollOverGoal(  # noqa: N802
        self, request: goals_pb2.RollOverGoalRequest, context: Context
    ) -> goals_pb2.RollOverGoalResponse:
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")
        parent_goal_id = parse_optional_uuid(request.parent_goal_id, "parent_goal_id")
        _require_version(request.expected_version)

        def roll_over() -> goals_pb2.RollOverGoalResponse:
            goal = self._require_can_change(principal, goal_id)
            policy.require_can_create(principal, self.org, owner_id=goal.owner_id, level=goal.level)
            result = self.planning.roll_over_goal(
                _context(principal),
                goal_id,
                parent_goal_id=parent_goal_id,
                activate=request.activate,
                expected_version=request.expected_version,
            )
            return goals_pb2.RollOverGoalResponse(
                previous=self._response(result.previous), next=self._response(result.next)
            )

        def roll_over_again(result: Mapping[str, Any]) -> goals_pb2.RollOverGoalResponse:
            previous, following = self._saved(principal, result)
            return goals_pb2.RollOverGoalResponse(
                previous=self._response(previous), next=self._response(following)
            )

        return await self._once(principal, request, roll_over, roll_over_again)

    # ---- queries ----

    async def GetGoal(  # noqa: N802
        self, request: goals_pb2.GetGoalRequest, context: Context
    ) -> goals_pb2.Goal:
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")
        if request.version < 0:
            raise InvalidArgument("must not be negative", field="version")
        as_of = parse_timestamp(request.as_of, "as_of") if request.as_of else None

        def get() -> goals_pb2.Goal:
            goal = self.app.get_goal(
                principal.tenant_id, goal_id, version=request.version or None, as_of=as_of
            )
            policy.require_can_view(principal, self.org, goal, "goal_id")
            past = request.version or as_of is not None
            # A past state rolls up its aligned goals as they were at that same moment.
            moment = (as_of or goal.modified_on) if past else None
            return goal_to_proto(goal_view(self.app, self.index, goal, self.today(), moment))

        return await _in_thread(get)

    async def ListGoals(  # noqa: N802
        self, request: goals_pb2.ListGoalsRequest, context: Context
    ) -> goals_pb2.ListGoalsResponse:
        principal = current_principal()
        size = page_size(request.page_size)
        goal_filter = _filter(request.owner_id, request)
        after = decode_page_token(request.page_token, goal_filter)

        def list_page() -> goals_pb2.ListGoalsResponse:
            goals, next_after = visible_goals_page(
                self.app,
                self.index,
                principal.tenant_id,
                goal_filter,
                lambda goal: policy.can_view(principal, self.org, goal),
                after_goal_id=after,
                page_size=size,
            )
            return goals_pb2.ListGoalsResponse(
                goals=[goal_to_proto(self._view(goal)) for goal in goals],
                next_page_token=encode_page_token(next_after, goal_filter) if next_after else "",
            )

        return await _in_thread(list_page)

    async def SummariseSmart(  # noqa: N802
        self, request: goals_pb2.SummariseSmartRequest, context: Context
    ) -> goals_pb2.SummariseSmartResponse:
        principal = current_principal()
        goal_filter = _filter("", request)

        def summarise() -> goals_pb2.SummariseSmartResponse:
            summaries = smart_summaries(
                self.app,
                self.index,
                principal.tenant_id,
                goal_filter,
                lambda goal: policy.can_view(principal, self.org, goal),
            )
            return goals_pb2.SummariseSmartResponse(
                teams=[
                    goals_pb2.TeamSmartSummary(
                        team_id=team_id,
                        goal_count=summary.goal_count,
                        specific=summary.held["S"],
                        measurable=summary.held["M"],
                        achievable=summary.held["A"],
                        relevant=summary.held["R"],
                        time_bound=summary.held["T"],
                        fully_smart=summary.fully_smart,
                    )
                    for team_id, summary in summaries.items()
                ]
            )

        return await _in_thread(summarise)

    # ---- helpers ----

    async def _change(
        self,
        request: GoalCommand,
        command: Callable[[Principal, UUID, int], CommandResult],
        request_fields: Mapping[str, str] | None = None,
    ) -> goals_pb2.GoalCommandResponse:
        """One application command on one goal, as the caller, once per request id;
        `request_fields` names the request's field for a domain field where they differ (e.g.
        the domain's due_date is ChangeDueDate's new_due_date)."""
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")
        expected_version = request.expected_version
        _require_version(expected_version)

        def change() -> goals_pb2.GoalCommandResponse:
            try:
                result = command(principal, goal_id, expected_version)
            except NorthstarError as error:
                renamed = _in_request_terms(error, request_fields or {})
                if renamed is error:
                    raise
                raise renamed from None
            return self._response(result)

        return await self._once(principal, request, change, self._one_goal_again(principal))

    async def _once(
        self,
        principal: Principal,
        request: Message,
        run: Callable[[], T],
        replay: Callable[[Mapping[str, Any]], T],
    ) -> T:
        """`run` in a worker thread, at most once per request id (services.shared.idempotency):
        a retry answers `replay` of the first run's recorded result."""
        request_id = parse_request_id(getattr(request, REQUEST_ID_FIELD))
        method = type(request).__name__.removesuffix("Request")
        return await _in_thread(
            lambda: run_once(
                self.app.request_log,
                principal,
                request_id,
                method,
                request,
                self.app.request_retention,
                run,
                replay,
            )
        )

    def _saved(self, principal: Principal, result: Mapping[str, Any]) -> list[CommandResult]:
        """The goals a recorded command saved, each at the version it saved."""
        saved = []
        for raw_id, version in result["goals"]:
            goal_id = UUID(raw_id)
            goal = self.app.get_goal(principal.tenant_id, goal_id, version=version)
            token = encode_position_token(goal_id, version)
            saved.append(CommandResult(goal, version, token, last_notification_id=0))
        return saved

    def _one_goal_again(
        self, principal: Principal
    ) -> Callable[[Mapping[str, Any]], goals_pb2.GoalCommandResponse]:
        return lambda result: self._response(self._saved(principal, result)[0])

    def _require_can_change(self, principal: Principal, goal_id: UUID) -> Goal:
        goal = self.app.get_goal(principal.tenant_id, goal_id)
        policy.require_can_view(principal, self.org, goal, "goal_id")
        policy.require_can_change(principal, self.org, goal)
        return goal

    def _view(self, goal: Goal) -> GoalView:
        return goal_view(self.app, self.index, goal, self.today())

    def _response(self, result: CommandResult) -> goals_pb2.GoalCommandResponse:
        return command_response(result, self._view(result.goal))


async def _in_thread(call: Callable[[], T]) -> T:
    return await asyncio.to_thread(call)


def _context(principal: Principal) -> CommandContext:
    return CommandContext.new(principal.tenant_id, principal.subject)


def _in_request_terms(error: NorthstarError, request_fields: Mapping[str, str]) -> Exception:
    for domain_field, request_field in request_fields.items():
        if error.field == domain_field or error.field.startswith(domain_field + "."):
            field = request_field + error.field[len(domain_field) :]
            return type(error)(error.reason, field=field)
    return error


def _require_version(expected_version: int) -> None:
    if expected_version < 0:
        raise InvalidArgument("must not be negative", field="expected_version")


def _filter(
    owner_id: str, request: goals_pb2.ListGoalsRequest | goals_pb2.SummariseSmartRequest
) -> GoalFilter:
    return GoalFilter(
        owner_id=owner_id,
        team_id=request.team_id,
        period_start=parse_optional_date(request.period_start, "period_start"),
        period_end=parse_optional_date(request.period_end, "period_end"),
    )

"""gRPC servicer of the goals service: protobuf <-> application calls, nothing else.

The commands on one goal are here; the RPCs that create several goals are in api_planning.py,
the queries in api_queries.py, what they share in api_support.py. Who may do what is decided in
the application layer, which every RPC calls with the caller. Every call runs its reads, the
authorisation and the command in one worker thread (the stores are synchronous), keeping the
event loop free for other calls.
"""

from __future__ import annotations

from uuid import UUID

from northstar.goals.v1 import goals_pb2
from services.goals.api_planning import PlanningRpcs
from services.goals.api_queries import QueryRpcs
from services.goals.api_support import Context
from services.goals.protobuf_mapping import (
    GOAL_LEVELS,
    GOAL_VISIBILITIES,
    PROGRESS_SOURCES,
    metric_from_proto,
    optional_metric,
    progress_source_from_request,
    require_positive_weight,
)
from services.shared.auth import current_principal
from services.shared.errors import InvalidArgument
from services.shared.validation import (
    parse_date,
    parse_optional_date,
    parse_optional_uuid,
    parse_uuid,
    require_finite_number,
)


class GoalServicer(PlanningRpcs, QueryRpcs):
    """The goals gRPC service: the commands on one goal here, planning and queries mixed in."""

    # ---- commands on one goal ----

    async def CreateGoal(  # noqa: N802 (gRPC method names)
        self, request: goals_pb2.CreateGoalRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        principal = current_principal()
        level = GOAL_LEVELS.from_request(request.level, "level")
        visibility = GOAL_VISIBILITIES.from_request(request.visibility, "visibility")
        metric = optional_metric(request)
        start_date = parse_date(request.start_date, "start_date")
        due_date = parse_optional_date(request.due_date, "due_date")
        parent_goal_id = parse_optional_uuid(request.parent_goal_id, "parent_goal_id")
        progress_source = progress_source_from_request(request.progress_source, "progress_source")
        kpi_id = parse_optional_uuid(request.kpi_id, "kpi_id")

        def create() -> goals_pb2.GoalCommandResponse:
            result = self.app.create_goal(
                principal,
                title=request.title,
                description=request.description,
                owner_id=request.owner_id,
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
        source = progress_source_from_request(request.progress_source, "progress_source")
        kpi_id = parse_optional_uuid(request.kpi_id, "kpi_id")
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.add_key_result(
                caller,
                goal_id,
                request.title,
                metric,
                weight,
                progress_source=source,
                kpi_id=kpi_id,
                expected_version=version,
            ),
            request_fields={
                "key_result.title": "title",
                "key_result.metric": "metric",
                "key_result.progress_source": "progress_source",
                "key_result.kpi_id": "kpi_id",
            },
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
        parse_uuid(request.goal_id, "goal_id")  # the goal first, then its new source
        source = PROGRESS_SOURCES.from_request(request.progress_source, "progress_source")
        kpi_id = parse_optional_uuid(request.kpi_id, "kpi_id")
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.change_progress_source(
                caller, goal_id, source, kpi_id, request.reason, expected_version=version
            ),
        )

    async def ChangeKeyResultProgressSource(  # noqa: N802
        self, request: goals_pb2.ChangeKeyResultProgressSourceRequest, context: Context
    ) -> goals_pb2.GoalCommandResponse:
        parse_uuid(request.goal_id, "goal_id")  # the goal first, then its key result and source
        key_result_id = parse_uuid(request.key_result_id, "key_result_id")
        source = PROGRESS_SOURCES.from_request(request.progress_source, "progress_source")
        kpi_id = parse_optional_uuid(request.kpi_id, "kpi_id")
        return await self._change(
            request,
            lambda caller, goal_id, version: self.app.change_key_result_progress_source(
                caller,
                goal_id,
                key_result_id,
                source,
                request.reason,
                kpi_id=kpi_id,
                expected_version=version,
            ),
        )

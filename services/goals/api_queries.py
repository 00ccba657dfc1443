"""The goals servicer's queries: one goal (now or in the past), pages of goals, SMART summaries."""

from __future__ import annotations

from northstar.goals.v1 import goals_pb2
from services.goals.api_support import Context, GoalServicerBase, in_thread
from services.goals.protobuf_mapping import goal_to_proto
from services.goals.queries import GoalFilter, decode_page_token, encode_page_token
from services.shared.auth import current_principal
from services.shared.errors import InvalidArgument
from services.shared.validation import page_size, parse_optional_date, parse_timestamp, parse_uuid


class QueryRpcs(GoalServicerBase):
    """GetGoal, ListGoals and SummariseSmart: protobuf <-> GoalQueries (as the caller asks)."""

    async def GetGoal(  # noqa: N802
        self, request: goals_pb2.GetGoalRequest, context: Context
    ) -> goals_pb2.Goal:
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")
        if request.version < 0:
            raise InvalidArgument("must not be negative", field="version")
        as_of = parse_timestamp(request.as_of, "as_of") if request.as_of else None

        def get() -> goals_pb2.Goal:
            view = self.queries.goal(
                principal, goal_id, self.today(), version=request.version or None, as_of=as_of
            )
            return goal_to_proto(view)

        return await in_thread(get)

    async def ListGoals(  # noqa: N802
        self, request: goals_pb2.ListGoalsRequest, context: Context
    ) -> goals_pb2.ListGoalsResponse:
        principal = current_principal()
        size = page_size(request.page_size)
        goal_filter = request_filter(request.owner_id, request)
        after = decode_page_token(request.page_token, goal_filter)

        def list_page() -> goals_pb2.ListGoalsResponse:
            goals, next_after = self.queries.goals_page(
                principal, goal_filter, after_goal_id=after, page_size=size
            )
            return goals_pb2.ListGoalsResponse(
                goals=[goal_to_proto(self._view(goal)) for goal in goals],
                next_page_token=encode_page_token(next_after, goal_filter) if next_after else "",
            )

        return await in_thread(list_page)

    async def SummariseSmart(  # noqa: N802
        self, request: goals_pb2.SummariseSmartRequest, context: Context
    ) -> goals_pb2.SummariseSmartResponse:
        principal = current_principal()
        goal_filter = request_filter("", request)

        def summarise() -> goals_pb2.SummariseSmartResponse:
            summaries = self.queries.smart_summaries(principal, goal_filter)
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

        return await in_thread(summarise)


def request_filter(
    owner_id: str, request: goals_pb2.ListGoalsRequest | goals_pb2.SummariseSmartRequest
) -> GoalFilter:
    return GoalFilter(
        owner_id=owner_id,
        team_id=request.team_id,
        period_start=parse_optional_date(request.period_start, "period_start"),
        period_end=parse_optional_date(request.period_end, "period_end"),
    )

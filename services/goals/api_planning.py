"""The goals servicer's RPCs that create several goals: cascade, templates, roll-over."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from northstar.goals.v1 import goals_pb2
from services.goals.api_support import (
    Context,
    GoalServicerBase,
    named_as_in_request,
    require_version,
)
from services.goals.protobuf_mapping import existing_goals, template_from_proto
from services.shared.auth import current_principal
from services.shared.validation import parse_optional_uuid, parse_uuid

# A goal's field refused in a template is the template's field of the request.
TEMPLATE_FIELDS = {
    name: f"template.{name}"
    for name in (
        "title",
        "description",
        "level",
        "start_date",
        "due_date",
        "metric",
        "visibility",
        "parent_goal_id",
    )
}


class PlanningRpcs(GoalServicerBase):
    """CascadeGoal, CreateGoalsFromTemplate and RollOverGoal: protobuf <-> GoalPlanning."""

    async def CascadeGoal(  # noqa: N802
        self, request: goals_pb2.CascadeGoalRequest, context: Context
    ) -> goals_pb2.CascadeGoalResponse:
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")

        def cascade() -> goals_pb2.CascadeGoalResponse:
            result = self.planning.cascade_goal(principal, goal_id, activate=request.activate)
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
            with named_as_in_request(TEMPLATE_FIELDS):
                result = self.planning.create_goals_from_template(
                    principal,
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
        require_version(request.expected_version)

        def roll_over() -> goals_pb2.RollOverGoalResponse:
            result = self.planning.roll_over_goal(
                principal,
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

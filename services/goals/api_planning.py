"""The goals servicer's RPCs that create several goals: cascade, templates, roll-over."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from northstar.goals.v1 import goals_pb2
from services.goals import authorization as policy
from services.goals.api_support import Context, GoalServicerBase, caller_context, require_version
from services.goals.messages import existing_goals, template_from_proto
from services.shared.auth import current_principal
from services.shared.validation import parse_optional_uuid, parse_uuid


class PlanningRpcs(GoalServicerBase):
    """CascadeGoal, CreateGoalsFromTemplate and RollOverGoal: protobuf <-> GoalPlanning."""

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
                caller_context(principal), goal_id, members, activate=request.activate
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
                caller_context(principal),
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
            goal = self._require_can_change(principal, goal_id)
            policy.require_can_create(principal, self.org, owner_id=goal.owner_id, level=goal.level)
            result = self.planning.roll_over_goal(
                caller_context(principal),
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

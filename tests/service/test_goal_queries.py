"""The queries at service level: who sees a goal (GetGoal), which goals a page lists
(ListGoals) and which a SMART summary counts (SummariseSmart), by role and visibility."""

from __future__ import annotations

from northstar.goals.v1 import goals_pb2 as pb
from tests.service.conftest import GoalsService
from tests.service.test_goal_commands import CALLERS, NOT_FOUND, OK

VISIBILITIES = {
    "public": pb.GOAL_VISIBILITY_PUBLIC,
    "team": pb.GOAL_VISIBILITY_TEAM,
    "private": pb.GOAL_VISIBILITY_PRIVATE,
}
# Who may not see each goal of owner-1 (team-a, managed by manager-1).
UNSEEN = {
    "public": set(),
    "team": {"other manager"},
    "private": {"teammate", "other manager"},
}


async def test_a_goal_is_found_listed_and_summarised_only_for_those_who_may_see_it(
    goals_service: GoalsService,
) -> None:
    goals = {
        name: (await goals_service.new_goal(visibility=visibility)).id
        for name, visibility in VISIBILITIES.items()
    }
    found, listed, counted = {}, {}, {}
    for caller_name, as_caller in CALLERS.items():
        for name, goal_id in goals.items():
            request = pb.GetGoalRequest(goal_id=goal_id)
            found[caller_name, name] = (
                await goals_service.status_of("GetGoal", request, as_caller)
            ).code
        page = await goals_service.call(
            "ListGoals", pb.ListGoalsRequest(owner_id="owner-1"), as_caller
        )
        ids = {goal.id for goal in page.goals}
        listed[caller_name] = {name for name, goal_id in goals.items() if goal_id in ids}
        summary = await goals_service.call("SummariseSmart", pb.SummariseSmartRequest(), as_caller)
        counted[caller_name] = sum(team.goal_count for team in summary.teams)
    assert found == {
        (caller_name, name): NOT_FOUND if caller_name in UNSEEN[name] else OK
        for caller_name in CALLERS
        for name in goals
    }
    seen = {
        caller_name: {name for name in goals if caller_name not in UNSEEN[name]}
        for caller_name in CALLERS
    }
    assert listed == seen
    assert counted == {caller_name: len(names) for caller_name, names in seen.items()}

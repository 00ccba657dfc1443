"""Strategy -> company -> team -> personal goals over gRPC on real Kafka: the projections'
alignment view agrees with the goals service on every goal, contributes-to links included."""

from __future__ import annotations

import pytest

from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from tests.integration.conftest import RunningSystem

pytestmark = [pytest.mark.kafka]


def metric(start: float, target: float) -> goals_pb2.Metric:
    return goals_pb2.Metric(
        kind=goals_pb2.METRIC_KIND_NUMBER,
        start=start,
        target=target,
        direction=goals_pb2.METRIC_DIRECTION_INCREASE,
    )


async def create(
    system: RunningSystem,
    metadata: tuple[tuple[str, str]],
    title: str,
    level: goals_pb2.GoalLevel.ValueType,
    owner_id: str,
    parent: str = "",
    measure: goals_pb2.Metric | None = None,
) -> goals_pb2.GoalCommandResponse:
    request = goals_pb2.CreateGoalRequest(
        title=title,
        description=f"{title}, as agreed in the planning round.",
        owner_id=owner_id,
        level=level,
        start_date="2026-01-01",
        due_date="2026-12-31",
        parent_goal_id=parent,
        activate=True,
    )
    if measure is not None:
        request.metric.CopyFrom(measure)
    response: goals_pb2.GoalCommandResponse = await system.goals_stub.CreateGoal(
        request, metadata=metadata
    )
    return response


async def test_strategy_to_personal_goals_roll_up_alike_in_goals_and_alignment_view(
    tenant_system: RunningSystem,
) -> None:
    system = tenant_system
    hr = system.bearer("hr-1", ["hr_admin"])
    manager = system.bearer("manager-1", ["manager"])
    owner = system.bearer("owner-1", ["employee"])
    stub = system.goals_stub
    strategy = await create(
        system, hr, "Become the leading European vendor", goals_pb2.GOAL_LEVEL_STRATEGY, "hr-1"
    )
    company = await create(
        system,
        hr,
        "Grow revenue in Europe by 20%",
        goals_pb2.GOAL_LEVEL_COMPANY,
        "hr-1",
        strategy.goal.id,
    )
    team = await create(
        system,
        manager,
        "Sign forty new customers in France",
        goals_pb2.GOAL_LEVEL_TEAM,
        "manager-1",
        company.goal.id,
    )
    first = await create(
        system,
        owner,
        "Close ten deals in Lyon",
        goals_pb2.GOAL_LEVEL_PERSONAL,
        "owner-1",
        team.goal.id,
        metric(0, 10),
    )
    second = await create(
        system,
        manager,
        "Close twenty deals in Paris",
        goals_pb2.GOAL_LEVEL_PERSONAL,
        "owner-2",
        team.goal.id,
        metric(0, 20),
    )
    linked = await stub.SetContributions(
        goals_pb2.SetContributionsRequest(
            goal_id=second.goal.id,
            contributions=[goals_pb2.Contribution(goal_id=company.goal.id, weight=3)],
        ),
        metadata=manager,
    )
    check_ins = [
        await stub.CheckIn(
            goals_pb2.CheckInRequest(goal_id=first.goal.id, value=5, confidence=0.8, note="Q1"),
            metadata=owner,
        ),
        await stub.CheckIn(
            goals_pb2.CheckInRequest(goal_id=second.goal.id, value=15, confidence=0.6),
            metadata=manager,
        ),
    ]
    assert team.goal.team_id == "team-b"  # the owner's team when the request names none
    assert first.goal.team_id == "team-a"
    tokens = [
        r.position_token for r in (strategy, company, team, first, second, linked, *check_ins)
    ]

    tree = await system.projections_stub.GetAlignmentTree(
        projections_pb2.GetAlignmentTreeRequest(
            root_goal_id=strategy.goal.id, consistency_tokens=tokens
        ),
        metadata=hr,
    )

    nodes = {node.goal_id: node for node in tree.nodes}
    assert set(nodes) == {r.goal.id for r in (strategy, company, team, first, second)}
    # The team averages 0.5 and 0.75; the company counts the team once and Paris three times.
    assert nodes[team.goal.id].progress == pytest.approx(0.625)
    assert nodes[company.goal.id].progress == pytest.approx((0.625 + 3 * 0.75) / 4)
    assert nodes[strategy.goal.id].progress == pytest.approx(nodes[company.goal.id].progress)
    for goal_id, node in nodes.items():
        goal = await stub.GetGoal(goals_pb2.GetGoalRequest(goal_id=goal_id), metadata=hr)
        assert goal.progress == pytest.approx(node.progress), goal.title
        # The two APIs define the same enums in their own packages: compare by name.
        assert goals_pb2.GoalStatus.Name(goal.status) == projections_pb2.GoalStatus.Name(
            node.status
        )
        assert goal.parent_goal_id == node.parent_goal_id, goal.title
        assert goals_pb2.GoalLevel.Name(goal.level) == projections_pb2.GoalLevel.Name(node.level)
        assert {c.goal_id: c.weight for c in goal.contributions} == {
            c.goal_id: c.weight for c in node.contributes_to
        }
    relevant = {
        criterion.letter: criterion.held
        for criterion in (
            await stub.GetGoal(goals_pb2.GetGoalRequest(goal_id=first.goal.id), metadata=owner)
        ).smart.criteria
    }
    assert list(relevant.items()) == [
        (goals_pb2.SMART_LETTER_SPECIFIC, True),
        (goals_pb2.SMART_LETTER_MEASURABLE, True),
        (goals_pb2.SMART_LETTER_ACHIEVABLE, True),
        (goals_pb2.SMART_LETTER_RELEVANT, True),
        (goals_pb2.SMART_LETTER_TIME_BOUND, True),
    ]

"""The alignment view on real Kafka and both stores: three levels with multi-parent
contributes-to links, numbers equal to the goals service's own, shares per team, department and
tenant, orphans, paths and contributors."""

from __future__ import annotations

import math

import pytest

from northstar.directory.v1 import directory_pb2
from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from tests.integration.conftest import RunningSystem, bearer
from tests.integration.test_walking_skeleton import create, metric
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

HR = bearer("hr-1", ["hr_admin"])  # in the seed tenant "acme" of a system of the test's own


async def add_subteam(system: RunningSystem, team_id: str, parent_team_id: str) -> None:
    await system.directory_stub.UpsertTeam(
        directory_pb2.UpsertTeamRequest(
            team_id=team_id, name=team_id.title(), parent_team_id=parent_team_id
        ),
        metadata=HR,
    )
    for replica in (system.goals.replica, system.projections.replica):
        await eventually(
            lambda replica=replica: replica.team("acme", team_id) is not None,  # type: ignore[misc]
            what=f"{team_id} in every replica",
        )


async def contribute(
    system: RunningSystem, goal_id: str, targets: dict[str, float]
) -> goals_pb2.GoalCommandResponse:
    response: goals_pb2.GoalCommandResponse = await system.goals_stub.SetContributions(
        goals_pb2.SetContributionsRequest(
            goal_id=goal_id,
            contributions=[
                goals_pb2.Contribution(goal_id=target, weight=weight)
                for target, weight in targets.items()
            ],
            reason="also moves this objective",
        ),
        metadata=HR,
    )
    return response


async def check_in(system: RunningSystem, goal_id: str, value: float) -> str:
    response = await system.goals_stub.CheckIn(
        goals_pb2.CheckInRequest(goal_id=goal_id, value=value, confidence=0.9, note=""),
        metadata=HR,
    )
    return str(response.position_token)


async def test_three_levels_with_contributes_to_links_match_the_goals_service_and_summarise(
    running_system: RunningSystem,
) -> None:
    system = running_system
    stub = system.projections_stub
    await add_subteam(system, "team-a-east", "team-a")
    s = await create(system, "Lead the European market", goals_pb2.GOAL_LEVEL_STRATEGY)
    c1 = await create(system, "Grow revenue 20%", goals_pb2.GOAL_LEVEL_COMPANY, s.goal.id)
    c2 = await create(system, "Raise retention to 95%", goals_pb2.GOAL_LEVEL_COMPANY, s.goal.id)
    t1 = await create(
        system, "Open the Lyon office", goals_pb2.GOAL_LEVEL_TEAM, c1.goal.id, team_id="team-a-east"
    )
    t2 = await create(
        system,
        "Cut churn in Benelux",
        goals_pb2.GOAL_LEVEL_TEAM,
        c2.goal.id,
        team_id="team-b",
        metric=metric(0, 10),
        # Its own metric is checked in, but its owner lets its contributors drive it.
        progress_source=goals_pb2.PROGRESS_SOURCE_CHILDREN,
    )
    p1 = await create(
        system, "Close 10 deals", goals_pb2.GOAL_LEVEL_PERSONAL, t1.goal.id, metric=metric(0, 10)
    )
    p2 = await create(
        system, "Hire 4 engineers", goals_pb2.GOAL_LEVEL_PERSONAL, t1.goal.id, metric=metric(0, 4)
    )
    orphan = await create(
        system,
        "Repaint the office",
        goals_pb2.GOAL_LEVEL_TEAM,
        owner_id="manager-1",
        team_id="team-b",
    )
    # Multi-parent: T1 also counts twice towards C2, and P2 also towards T2.
    tokens = [
        (await contribute(system, t1.goal.id, {c2.goal.id: 2.0})).position_token,
        (await contribute(system, p2.goal.id, {t2.goal.id: 1.0})).position_token,
        await check_in(system, p1.goal.id, 5),
        await check_in(system, p2.goal.id, 4),
        await check_in(system, t2.goal.id, 2),
        s.position_token,
        orphan.position_token,
    ]

    tree = await stub.GetAlignmentTree(
        projections_pb2.GetAlignmentTreeRequest(consistency_tokens=tokens), metadata=HR
    )
    by_id = {node.goal_id: node for node in tree.nodes}
    assert tree.total_size == len(tree.nodes) == 8
    assert sum(entry.count for entry in tree.status_counts) == 8
    assert [entry.status for entry in tree.status_counts] == sorted(
        {node.status for node in tree.nodes}
    )
    assert [n.goal_id for n in tree.nodes if n.depth == 0] == [s.goal.id, orphan.goal.id]
    assert by_id[t1.goal.id].contributes_to[0].goal_id == c2.goal.id
    assert set(by_id[c2.goal.id].child_goal_ids) == {t1.goal.id, t2.goal.id}
    for goal_id, node in by_id.items():
        own_view = await system.goals_stub.GetGoal(
            goals_pb2.GetGoalRequest(goal_id=goal_id), metadata=HR
        )
        assert node.progress == pytest.approx(own_view.progress)
        assert projections_pb2.GoalStatus.Name(node.status) == goals_pb2.GoalStatus.Name(
            own_view.status
        )
    assert by_id[c2.goal.id].progress == pytest.approx((1.0 + 2 * 0.75) / 3)

    team_tree = await stub.GetAlignmentTree(
        projections_pb2.GetAlignmentTreeRequest(team_id="team-a-east"), metadata=HR
    )
    assert [n.goal_id for n in team_tree.nodes] == [s.goal.id, c1.goal.id, t1.goal.id]

    summary = await stub.GetAlignmentSummary(
        projections_pb2.GetAlignmentSummaryRequest(page_size=1), metadata=HR
    )
    assert (summary.tenant.goal_count, summary.tenant.aligned_count) == (7, 6)
    assert [(t.scope_id, t.goal_count, t.aligned_count) for t in summary.teams] == [
        ("team-a", 4, 4),
        ("team-a-east", 1, 1),
        ("team-b", 2, 1),
    ]
    # team-a-east sits under team-a in the directory, so it counts towards that department.
    assert [(d.scope_id, d.goal_count, d.aligned_share) for d in summary.departments] == [
        ("team-a", 5, 1.0),
        ("team-b", 2, 0.5),
    ]
    assert [g.goal_id for g in summary.orphan_goals] == [orphan.goal.id]
    assert (summary.orphan_count, summary.next_page_token) == (1, "")

    path = await stub.GetGoalPath(
        projections_pb2.GetGoalPathRequest(goal_id=p1.goal.id), metadata=HR
    )
    assert [n.goal_id for n in path.nodes] == [p1.goal.id, t1.goal.id, c1.goal.id, s.goal.id]
    assert path.reaches_strategy
    lonely = await stub.GetGoalPath(
        projections_pb2.GetGoalPathRequest(goal_id=orphan.goal.id), metadata=HR
    )
    assert ([n.goal_id for n in lonely.nodes], lonely.reaches_strategy) == ([orphan.goal.id], False)

    first = await stub.ListContributors(
        projections_pb2.ListContributorsRequest(goal_id=s.goal.id, page_size=4), metadata=HR
    )
    rest = await stub.ListContributors(
        projections_pb2.ListContributorsRequest(
            goal_id=s.goal.id, page_size=4, page_token=first.next_page_token
        ),
        metadata=HR,
    )
    found = {c.goal.goal_id: c for c in [*first.contributors, *rest.contributors]}
    assert first.total_size == len(found) == 6
    assert {g for g, c in found.items() if c.direct} == {c1.goal.id, c2.goal.id}
    assert found[p1.goal.id].distance == 3
    leaves = [c for c in found.values() if not c.goal.child_goal_ids]
    explained = math.fsum(c.effective_weight * c.goal.own_progress for c in leaves)
    assert explained == pytest.approx(by_id[s.goal.id].progress)

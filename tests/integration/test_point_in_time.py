"""A goal at a past version or time rolls up its aligned goals as they were at that moment, in
the goals service (GetGoal with version or as_of) and in the projections (GetGoalAsOf)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from tests.integration.conftest import RunningSystem
from tests.integration.test_walking_skeleton import create, metric

pytestmark = [pytest.mark.kafka]


async def test_a_past_moment_rolls_up_the_children_as_they_were_then(
    tenant_system: RunningSystem,
) -> None:
    system = tenant_system
    hr = system.bearer("hr-1", ["hr_admin"])
    auditor = system.bearer("auditor-1", ["auditor"])
    parent = await create(system, "Grow revenue", goals_pb2.GOAL_LEVEL_COMPANY)
    child = await create(
        system, "Close deals", goals_pb2.GOAL_LEVEL_TEAM, parent.goal.id, metric=metric(0, 10)
    )
    halfway = await system.goals_stub.CheckIn(
        goals_pb2.CheckInRequest(goal_id=child.goal.id, value=5, confidence=0.8, note="half"),
        metadata=hr,
    )
    moment = datetime.now(UTC).isoformat()
    done = await system.goals_stub.CheckIn(
        goals_pb2.CheckInRequest(goal_id=child.goal.id, value=10, confidence=0.9, note="all"),
        metadata=hr,
    )
    tokens = [r.position_token for r in (parent, child, halfway, done)]

    now = await system.goals_stub.GetGoal(
        goals_pb2.GetGoalRequest(goal_id=parent.goal.id), metadata=hr
    )
    then = await system.goals_stub.GetGoal(
        goals_pb2.GetGoalRequest(goal_id=parent.goal.id, as_of=moment), metadata=hr
    )
    at_version = await system.goals_stub.GetGoal(
        goals_pb2.GetGoalRequest(goal_id=parent.goal.id, version=parent.version), metadata=hr
    )
    await system.projections_stub.GetGoalHistory(
        projections_pb2.GetGoalHistoryRequest(goal_id=child.goal.id, consistency_tokens=tokens),
        metadata=auditor,
    )
    projected = await system.projections_stub.GetGoalAsOf(
        projections_pb2.GetGoalAsOfRequest(goal_id=parent.goal.id, as_of=moment),
        metadata=auditor,
    )
    projected_now = await system.projections_stub.GetGoalAsOf(
        projections_pb2.GetGoalAsOfRequest(goal_id=child.goal.id), metadata=auditor
    )

    assert now.progress == pytest.approx(1.0)
    assert then.progress == pytest.approx(0.5)  # the child was halfway at that moment
    assert at_version.progress == pytest.approx(0.0)  # no check-in yet when that version was made
    assert projected.progress == pytest.approx(0.5)
    assert projected_now.progress == pytest.approx(1.0)
    assert projected_now.own_progress == pytest.approx(1.0)

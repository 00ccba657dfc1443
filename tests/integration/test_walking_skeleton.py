"""A goal travels from gRPC through the event store and Apache Kafka into the projections."""

from __future__ import annotations

from typing import Any

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
    title: str,
    level: goals_pb2.GoalLevel.ValueType,
    parent: str = "",
    **fields: Any,
) -> goals_pb2.GoalCommandResponse:
    """An active goal of owner-1 in team-a unless `fields` say otherwise (owner_id, team_id,
    visibility, metric, progress_source, metadata: the caller's token)."""
    request = goals_pb2.CreateGoalRequest(
        title=title,
        owner_id=str(fields.get("owner_id", "owner-1")),
        team_id=str(fields.get("team_id", "team-a")),
        level=level,
        start_date="2026-01-01",
        due_date="2026-12-31",
        parent_goal_id=parent,
        visibility=fields.get("visibility", goals_pb2.GOAL_VISIBILITY_UNSPECIFIED),
        activate=True,
    )
    if "metric" in fields:
        request.metric.CopyFrom(fields["metric"])
    request.progress_source = fields.get("progress_source", goals_pb2.PROGRESS_SOURCE_UNSPECIFIED)
    metadata = fields.get("metadata") or system.bearer("hr-1", ["hr_admin"])
    response: goals_pb2.GoalCommandResponse = await system.goals_stub.CreateGoal(
        request,
        metadata=metadata,
    )
    return response


async def test_check_in_rolls_up_through_company_team_and_personal_goals(
    running_system: RunningSystem,
) -> None:
    system = running_system
    hr = system.bearer("hr-1", ["hr_admin"])
    company = await create(system, "Grow revenue in Europe by 20%", goals_pb2.GOAL_LEVEL_COMPANY)
    team = await create(
        system, "Sign 40 new customers in France", goals_pb2.GOAL_LEVEL_TEAM, company.goal.id
    )
    personal = await create(
        system,
        "Close 10 deals in Lyon",
        goals_pb2.GOAL_LEVEL_PERSONAL,
        team.goal.id,
        metric=metric(0, 10),
    )
    check_in = await system.goals_stub.CheckIn(
        goals_pb2.CheckInRequest(goal_id=personal.goal.id, value=5, confidence=0.8, note="halfway"),
        metadata=hr,
    )
    tokens = [r.position_token for r in (company, team, personal, check_in)]

    tree = await system.projections_stub.GetAlignmentTree(
        projections_pb2.GetAlignmentTreeRequest(
            root_goal_id=company.goal.id, consistency_tokens=tokens
        ),
        metadata=hr,
    )

    by_id = {node.goal_id: node for node in tree.nodes}
    assert [node.depth for node in tree.nodes] == [0, 1, 2]
    assert {goal_id: node.progress for goal_id, node in by_id.items()} == {
        company.goal.id: pytest.approx(0.5),
        team.goal.id: pytest.approx(0.5),
        personal.goal.id: pytest.approx(0.5),
    }
    assert by_id[team.goal.id].parent_goal_id == company.goal.id
    for goal_id, node in by_id.items():
        own_view = await system.goals_stub.GetGoal(
            goals_pb2.GetGoalRequest(goal_id=goal_id), metadata=hr
        )
        assert own_view.progress == pytest.approx(node.progress)
        # The two APIs define the same enum in their own packages: compare by name.
        assert goals_pb2.GoalStatus.Name(own_view.status) == projections_pb2.GoalStatus.Name(
            node.status
        )


async def test_audit_history_shows_who_changed_what_and_verifies(
    running_system: RunningSystem,
) -> None:
    system = running_system
    hr = system.bearer("hr-1", ["hr_admin"])
    goal = await create(
        system, "Cut churn to 3% this year", goals_pb2.GOAL_LEVEL_PERSONAL, metric=metric(0, 10)
    )
    check_in = await system.goals_stub.CheckIn(
        goals_pb2.CheckInRequest(goal_id=goal.goal.id, value=4, confidence=0.7, note="q1"),
        metadata=hr,
    )
    history = await system.projections_stub.GetGoalHistory(
        projections_pb2.GetGoalHistoryRequest(
            goal_id=goal.goal.id, consistency_tokens=[check_in.position_token]
        ),
        metadata=hr,
    )
    assert [e.event_type for e in history.entries] == [
        "goals.GoalCreated",
        "goals.GoalActivated",
        "goals.GoalCheckedIn",
    ]
    assert {e.actor_id for e in history.entries} == {"hr-1"}
    last_changes = {c.field: (c.before_json, c.after_json) for c in history.entries[-1].changes}
    assert '"current": 4.0' in last_changes["metric"][1]
    verified = await system.projections_stub.VerifyHistory(
        projections_pb2.VerifyHistoryRequest(aggregate_id=goal.goal.id), metadata=hr
    )
    assert verified.intact
    assert verified.entries_checked == 3

    registry = system.projections.runtime.metrics.registry
    topic = system.settings.topic_for("goals")
    version = {"projection": "goals-v1"}
    assert (registry.get_sample_value("northstar_events_applied_total", version) or 0) >= 3
    assert registry.get_sample_value("northstar_duplicates_skipped_total", version) == 0
    assert registry.get_sample_value("northstar_projection_lag_seconds", version) is not None
    assert registry.get_sample_value("northstar_dead_lettered_total", {"topic": topic}) == 0
    progress = registry.get_sample_value(
        "northstar_rebuild_progress_ratio", {"read_model": "goals"}
    )
    assert progress == 1.0
    lag_partitions = {
        sample.labels["partition"]
        for family in registry.collect()
        if family.name == "northstar_consumer_lag_messages"
        for sample in family.samples
        if sample.labels["topic"] == topic
    }
    assert lag_partitions, "consumer lag is reported per partition"

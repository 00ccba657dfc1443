"""A key result's progress source over the goals API (service tier): chosen at AddKeyResult,
changed with ChangeKeyResultProgressSource, and shown on the key result in the command's answer,
GetGoal, an earlier version, and ListGoals."""

from __future__ import annotations

from uuid import UUID

import grpc

from northstar.goals.v1 import goals_pb2 as pb
from tests.service.conftest import ACME_KPI, GoalsService, caller

OWNER = caller("owner-1", "employee")


def pages(
    goal_id: str,
    progress_source: pb.ProgressSource.ValueType = pb.PROGRESS_SOURCE_UNSPECIFIED,
    kpi_id: str = "",
) -> pb.AddKeyResultRequest:
    metric = pb.Metric(kind=pb.METRIC_KIND_NUMBER, start=0, target=40)
    return pb.AddKeyResultRequest(
        goal_id=goal_id,
        title="Pages",
        metric=metric,
        progress_source=progress_source,
        kpi_id=kpi_id,
    )


def source_of(goal: pb.Goal) -> list[tuple[str, int, str]]:
    return [(kr.title, kr.progress_source, kr.kpi_id) for kr in goal.key_results]


async def test_a_key_results_source_is_chosen_changed_and_shown_in_every_view(
    goals_service: GoalsService,
) -> None:
    service = goals_service
    goal = await service.new_goal()
    added = await service.call(
        "AddKeyResult",
        pages(goal.id, progress_source=pb.PROGRESS_SOURCE_KPI, kpi_id=str(ACME_KPI)),
        OWNER,
    )
    fed = [("Pages", pb.PROGRESS_SOURCE_KPI, str(ACME_KPI))]
    assert source_of(added.goal) == fed
    key_result_id = added.goal.key_results[0].id
    # A note and a confidence are still the owner's to give (the application takes a check-in
    # without a value; CheckInRequest always carries one, refused here: the value is the KPI's).
    refused = await service.status_of(
        "CheckIn",
        pb.CheckInRequest(goal_id=goal.id, key_result_id=key_result_id, value=3, confidence=0.4),
        OWNER,
    )
    assert (refused.code, refused.field) == (grpc.StatusCode.FAILED_PRECONDITION, "value")
    noted = service.app.check_in(
        OWNER, UUID(goal.id), None, 0.4, "the feed lags a week", key_result_id=UUID(key_result_id)
    )
    assert noted.goal.latest_confidence == 0.4
    changed = await service.call(
        "ChangeKeyResultProgressSource",
        pb.ChangeKeyResultProgressSourceRequest(
            goal_id=goal.id,
            key_result_id=key_result_id,
            progress_source=pb.PROGRESS_SOURCE_METRIC,
            reason="the pages are counted by hand now",
        ),
        OWNER,
    )
    own = [("Pages", pb.PROGRESS_SOURCE_METRIC, "")]
    assert source_of(changed.goal) == own
    fetched = await service.call("GetGoal", pb.GetGoalRequest(goal_id=goal.id), OWNER)
    assert source_of(fetched) == own
    earlier = await service.call(
        "GetGoal", pb.GetGoalRequest(goal_id=goal.id, version=added.version), OWNER
    )
    assert source_of(earlier) == fed
    listed = await service.call("ListGoals", pb.ListGoalsRequest(owner_id="owner-1"), OWNER)
    assert [source_of(g) for g in listed.goals] == [own]
    checked = await service.call(
        "CheckIn",
        pb.CheckInRequest(goal_id=goal.id, key_result_id=key_result_id, value=10, confidence=0.8),
        OWNER,
    )
    assert checked.goal.key_results[0].current == 10

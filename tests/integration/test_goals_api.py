"""The goals API over gRPC: precise errors that store nothing, optimistic concurrency, metrics."""

from __future__ import annotations

import urllib.request
from collections.abc import Awaitable, Callable

import grpc
import pytest

from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from services.shared.grpc_server import error_details
from tests.integration.conftest import RunningSystem, bearer

pytestmark = [pytest.mark.kafka]

HR = bearer("hr-1", ["hr_admin"])


def create_request(**overrides: object) -> goals_pb2.CreateGoalRequest:
    request = goals_pb2.CreateGoalRequest(
        title="Reduce onboarding time to five days",
        owner_id="owner-1",
        team_id="team-a",
        level="personal",
        start_date="2026-01-01",
        due_date="2026-06-30",
        activate=True,
    )
    request.metric.CopyFrom(
        goals_pb2.Metric(kind="number", start=10, target=5, direction="decrease")
    )
    for name, value in overrides.items():
        if isinstance(value, goals_pb2.Metric):
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)
    return request


async def expect_error(
    call: Awaitable[object], code: grpc.StatusCode, field: str
) -> dict[str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    details = error_details(caught.value)
    assert field in details, details
    assert details[field]
    return details


def stored_events(system: RunningSystem) -> int:
    return system.goals.app.recorder.max_notification_id() or 0


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"title": "   "}, grpc.StatusCode.INVALID_ARGUMENT, "title"),
        (
            {"metric": goals_pb2.Metric(kind="number", start=5, target=5, direction="increase")},
            grpc.StatusCode.INVALID_ARGUMENT,
            "metric.target",
        ),
        ({"due_date": "2025-12-31"}, grpc.StatusCode.INVALID_ARGUMENT, "due_date"),
        ({"start_date": "31/01/2026"}, grpc.StatusCode.INVALID_ARGUMENT, "start_date"),
        (
            {"parent_goal_id": "8f0b6f0e-0000-4000-8000-000000000000"},
            grpc.StatusCode.FAILED_PRECONDITION,
            "parent_goal_id",
        ),
        ({"parent_goal_id": "not-an-id"}, grpc.StatusCode.INVALID_ARGUMENT, "parent_goal_id"),
        (
            {"metric": goals_pb2.Metric(kind="number", start=0, target=float("nan"))},
            grpc.StatusCode.INVALID_ARGUMENT,
            "metric.target",
        ),
    ],
)
async def test_bad_create_requests_name_the_field_and_store_nothing(
    running_system: RunningSystem,
    overrides: dict[str, object],
    code: grpc.StatusCode,
    field: str,
) -> None:
    before = stored_events(running_system)
    await expect_error(
        running_system.goals_stub.CreateGoal(create_request(**overrides), metadata=HR),
        code,
        field,
    )
    assert stored_events(running_system) == before


async def test_aligning_a_goal_under_its_own_descendant_is_refused(
    running_system: RunningSystem,
) -> None:
    stub = running_system.goals_stub
    top = await stub.CreateGoal(create_request(level="team"), metadata=HR)
    middle = await stub.CreateGoal(create_request(parent_goal_id=top.goal.id), metadata=HR)
    bottom = await stub.CreateGoal(create_request(parent_goal_id=middle.goal.id), metadata=HR)
    before = stored_events(running_system)
    details = await expect_error(
        stub.AlignGoal(
            goals_pb2.AlignGoalRequest(
                goal_id=top.goal.id, parent_goal_id=bottom.goal.id, reason="reorganised"
            ),
            metadata=HR,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "parent_goal_id",
    )
    assert "cycle" in details["parent_goal_id"]
    assert stored_events(running_system) == before


async def test_two_updates_of_the_same_version_one_wins_the_other_is_aborted(
    running_system: RunningSystem,
) -> None:
    stub = running_system.goals_stub
    goal = await stub.CreateGoal(create_request(), metadata=HR)

    def check_in(
        value: float, version: int
    ) -> Callable[[], Awaitable[goals_pb2.GoalCommandResponse]]:
        request = goals_pb2.CheckInRequest(
            goal_id=goal.goal.id, value=value, confidence=0.9, expected_version=version
        )
        return lambda: stub.CheckIn(request, metadata=HR)

    first = await check_in(8, goal.version)()
    await expect_error(check_in(7, goal.version)(), grpc.StatusCode.ABORTED, "expected_version")
    retried = await check_in(7, first.version)()
    assert retried.version == first.version + 1
    assert retried.goal.current == 7


async def test_services_serve_prometheus_metrics(running_system: RunningSystem) -> None:
    system = running_system
    created = await system.goals_stub.CreateGoal(create_request(), metadata=HR)
    await expect_error(
        system.goals_stub.CreateGoal(create_request(title=""), metadata=HR),
        grpc.StatusCode.INVALID_ARGUMENT,
        "title",
    )
    await system.projections_stub.GetGoalHistory(
        projections_pb2.GetGoalHistoryRequest(
            goal_id=created.goal.id, consistency_tokens=[created.position_token]
        ),
        metadata=HR,
    )
    goals_text = scrape(system.goals.runtime.metrics_port)
    projections_text = scrape(system.projections.runtime.metrics_port)
    create_method = 'method="/northstar.goals.v1.GoalService/CreateGoal"'
    assert f'northstar_grpc_requests_total{{code="OK",{create_method}}} 1.0' in goals_text
    assert f'{{code="INVALID_ARGUMENT",{create_method}}} 1.0' in goals_text
    assert 'northstar_events_appended_total{aggregate_type="Goal"} 2.0' in goals_text
    assert "northstar_relay_lag_notifications" in goals_text
    assert "northstar_grpc_request_duration_seconds_bucket" in goals_text
    for name in (
        "northstar_consumer_lag_messages{",
        "northstar_duplicates_skipped_total{",
        "northstar_dead_lettered_total{",
        'northstar_events_applied_total{projection="goals-v1"} 2.0',
        "northstar_projection_lag_seconds{",
    ):
        assert name in projections_text, name


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())

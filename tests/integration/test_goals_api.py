"""The goals API over gRPC: precise errors that store nothing, optimistic concurrency, metrics."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Awaitable
from dataclasses import dataclass

import grpc
import pytest

from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from services.shared.grpc_server import error_details
from tests.integration.conftest import RunningSystem

pytestmark = [pytest.mark.kafka]


def hr(system: RunningSystem) -> tuple[tuple[str, str]]:
    """The HR admin of the system's seed tenant "acme" (on a shared system, the test's own)."""
    return system.bearer("hr-1", ["hr_admin"])


def create_request(**overrides: object) -> goals_pb2.CreateGoalRequest:
    request = goals_pb2.CreateGoalRequest(
        title="Reduce onboarding time to five days",
        owner_id="owner-1",
        team_id="team-a",
        level=goals_pb2.GOAL_LEVEL_PERSONAL,
        start_date="2026-01-01",
        due_date="2026-06-30",
        activate=True,
    )
    request.metric.CopyFrom(
        goals_pb2.Metric(
            kind=goals_pb2.METRIC_KIND_NUMBER,
            start=10,
            target=5,
            direction=goals_pb2.METRIC_DIRECTION_DECREASE,
        )
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


@dataclass(frozen=True)
class Refusal:
    code: grpc.StatusCode
    details: dict[str, str]


async def outcome_of(
    call: Awaitable[goals_pb2.GoalCommandResponse],
) -> goals_pb2.GoalCommandResponse | Refusal:
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        return Refusal(error.code(), error_details(error))


async def race(
    calls: dict[float, Awaitable[goals_pb2.GoalCommandResponse]],
) -> tuple[dict[float, goals_pb2.GoalCommandResponse], dict[float, Refusal]]:
    """Runs the calls at once; the answers by the value each call checked in."""
    outcomes = await asyncio.gather(*map(outcome_of, calls.values()))
    won, lost = {}, {}
    for value, outcome in zip(calls, outcomes, strict=True):
        if isinstance(outcome, Refusal):
            lost[value] = outcome
        else:
            won[value] = outcome
    return won, lost


async def recorded_values(system: RunningSystem, goal_id: str, last_version: int) -> list[float]:
    """The goal's current value after each version (its check-in history, read back)."""
    values = []
    for version in range(1, last_version + 1):
        goal = await system.goals_stub.GetGoal(
            goals_pb2.GetGoalRequest(goal_id=goal_id, version=version), metadata=hr(system)
        )
        values.append(goal.current)
    return values


@pytest.mark.parametrize(
    ("overrides", "code", "field", "reason"),
    [
        ({"title": ""}, grpc.StatusCode.INVALID_ARGUMENT, "title", "must not be blank"),
        ({"title": "   "}, grpc.StatusCode.INVALID_ARGUMENT, "title", "must not be blank"),
        (
            {
                "metric": goals_pb2.Metric(
                    kind=goals_pb2.METRIC_KIND_NUMBER,
                    start=5,
                    target=5,
                    direction=goals_pb2.METRIC_DIRECTION_INCREASE,
                )
            },
            grpc.StatusCode.INVALID_ARGUMENT,
            "metric.target",
            "target equals start",
        ),
        (
            {"due_date": "2025-12-31"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "due_date",
            "due date is before the start date",
        ),
        (
            {"start_date": "31/01/2026"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "start_date",
            "is not a date (YYYY-MM-DD)",
        ),
        (
            {"parent_goal_id": "8f0b6f0e-0000-4000-8000-000000000000"},
            grpc.StatusCode.FAILED_PRECONDITION,
            "parent_goal_id",
            "does not exist",
        ),
        (
            {"parent_goal_id": "not-an-id"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "parent_goal_id",
            "is not a valid id",
        ),
        (
            {
                "metric": goals_pb2.Metric(
                    kind=goals_pb2.METRIC_KIND_NUMBER, start=0, target=float("nan")
                )
            },
            grpc.StatusCode.INVALID_ARGUMENT,
            "metric.target",
            "must be a finite number",
        ),
    ],
)
async def test_bad_create_requests_name_the_field_and_store_nothing(
    tenant_system: RunningSystem,
    overrides: dict[str, object],
    code: grpc.StatusCode,
    field: str,
    reason: str,
) -> None:
    admin = hr(tenant_system)
    before = stored_events(tenant_system)
    details = await expect_error(
        tenant_system.goals_stub.CreateGoal(create_request(**overrides), metadata=admin),
        code,
        field,
    )
    assert reason in details[field], details
    assert stored_events(tenant_system) == before


async def test_aligning_a_goal_under_its_own_descendant_is_refused(
    tenant_system: RunningSystem,
) -> None:
    admin = hr(tenant_system)
    stub = tenant_system.goals_stub
    top = await stub.CreateGoal(create_request(level=goals_pb2.GOAL_LEVEL_TEAM), metadata=admin)
    middle = await stub.CreateGoal(create_request(parent_goal_id=top.goal.id), metadata=admin)
    bottom = await stub.CreateGoal(create_request(parent_goal_id=middle.goal.id), metadata=admin)
    before = stored_events(tenant_system)
    details = await expect_error(
        stub.AlignGoal(
            goals_pb2.AlignGoalRequest(
                goal_id=top.goal.id, parent_goal_id=bottom.goal.id, reason="reorganised"
            ),
            metadata=admin,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "parent_goal_id",
    )
    assert "cycle" in details["parent_goal_id"]
    assert stored_events(tenant_system) == before


async def test_aligning_two_goals_under_each_other_at_once_lets_only_one_link_through(
    tenant_system: RunningSystem,
) -> None:
    admin = hr(tenant_system)
    stub = tenant_system.goals_stub
    first = await stub.CreateGoal(create_request(level=goals_pb2.GOAL_LEVEL_TEAM), metadata=admin)
    second = await stub.CreateGoal(create_request(level=goals_pb2.GOAL_LEVEL_TEAM), metadata=admin)

    def align(goal: str, parent: str) -> Awaitable[goals_pb2.GoalCommandResponse]:
        request = goals_pb2.AlignGoalRequest(goal_id=goal, parent_goal_id=parent)
        return stub.AlignGoal(request, metadata=admin)

    outcomes = await asyncio.gather(
        outcome_of(align(first.goal.id, second.goal.id)),
        outcome_of(align(second.goal.id, first.goal.id)),
    )
    refusals = [outcome for outcome in outcomes if isinstance(outcome, Refusal)]
    assert len(refusals) == 1, outcomes
    assert refusals[0].code == grpc.StatusCode.FAILED_PRECONDITION, refusals
    assert "cycle" in refusals[0].details["parent_goal_id"], refusals
    for goal in (first, second):  # both goals still answer, with their progress
        read = await stub.GetGoal(goals_pb2.GetGoalRequest(goal_id=goal.goal.id), metadata=admin)
        assert 0.0 <= read.progress <= 1.0


async def test_two_updates_of_the_same_version_one_wins_the_other_is_aborted(
    tenant_system: RunningSystem,
) -> None:
    admin = hr(tenant_system)
    stub = tenant_system.goals_stub
    goal = await stub.CreateGoal(create_request(), metadata=admin)

    def check_in(value: float, version: int) -> Awaitable[goals_pb2.GoalCommandResponse]:
        request = goals_pb2.CheckInRequest(
            goal_id=goal.goal.id, value=value, confidence=0.9, expected_version=version
        )
        return stub.CheckIn(request, metadata=admin)

    won, lost = await race({8.0: check_in(8, goal.version), 7.0: check_in(7, goal.version)})
    assert (len(won), len(lost)) == (1, 1), (won, lost)
    [(winner, first)] = won.items()
    [(loser, refusal)] = lost.items()
    assert first.version == goal.version + 1
    assert refusal.code == grpc.StatusCode.ABORTED, refusal
    assert "reload and retry" in refusal.details["expected_version"], refusal

    retried = await check_in(loser, first.version)
    assert retried.version == first.version + 1
    assert retried.goal.current == loser
    history = await recorded_values(tenant_system, goal.goal.id, retried.version)
    assert history[-2:] == [winner, loser]  # no update lost


async def test_racing_updates_without_an_expected_version_lose_none_silently(
    tenant_system: RunningSystem,
) -> None:
    admin = hr(tenant_system)
    stub = tenant_system.goals_stub
    goal = await stub.CreateGoal(create_request(), metadata=admin)

    def check_in(value: float) -> Awaitable[goals_pb2.GoalCommandResponse]:
        request = goals_pb2.CheckInRequest(goal_id=goal.goal.id, value=value, confidence=0.5)
        return stub.CheckIn(request, metadata=admin)

    won, lost = await race({value: check_in(value) for value in (9.0, 8.0, 7.0, 6.0)})
    # Serialised, all succeed; a write of a version another one took first is refused.
    for refusal in lost.values():
        assert refusal.code == grpc.StatusCode.ABORTED, refusal
        assert set(refusal.details) == {"expected_version"}, refusal
    assert won
    latest = max(response.version for response in won.values())
    assert latest == goal.version + len(won)  # nothing recorded that was not answered OK
    history = await recorded_values(tenant_system, goal.goal.id, latest)
    for value, response in won.items():
        assert history[response.version - 1] == value, (value, response.version, history)


async def test_list_goals_keeps_the_goals_whose_period_overlaps_the_asked_one(
    tenant_system: RunningSystem,
) -> None:
    admin = hr(tenant_system)
    stub = tenant_system.goals_stub
    periods = {  # title -> (start, due); "" for an open end
        "Q1": ("2026-01-01", "2026-03-31"),
        "Ends on April 1st": ("2026-01-01", "2026-04-01"),
        "Q2": ("2026-04-01", "2026-06-30"),
        "Q3": ("2026-07-01", "2026-09-30"),
        "Whole year": ("2026-01-01", "2026-12-31"),
        "Open from May": ("2026-05-15", ""),
        "Open from October": ("2026-10-01", ""),
    }
    for title, (start, due) in periods.items():
        await stub.CreateGoal(
            create_request(title=title, start_date=start, due_date=due), metadata=admin
        )

    async def listed(period_start: str = "", period_end: str = "") -> set[str]:
        request = goals_pb2.ListGoalsRequest(period_start=period_start, period_end=period_end)
        response = await stub.ListGoals(request, metadata=admin)
        return {goal.title for goal in response.goals}

    assert await listed("2026-04-01", "2026-06-30") == {
        "Ends on April 1st",
        "Q2",
        "Whole year",
        "Open from May",
    }
    assert await listed(period_start="2026-07-01") == {
        "Q3",
        "Whole year",
        "Open from May",
        "Open from October",
    }
    assert await listed(period_end="2026-03-31") == {"Q1", "Ends on April 1st", "Whole year"}


async def test_services_serve_prometheus_metrics(running_system: RunningSystem) -> None:
    system = running_system  # its own: the metrics count only what this test did
    admin = hr(system)
    created = await system.goals_stub.CreateGoal(create_request(), metadata=admin)
    await expect_error(
        system.goals_stub.CreateGoal(create_request(title=""), metadata=admin),
        grpc.StatusCode.INVALID_ARGUMENT,
        "title",
    )
    await system.projections_stub.GetGoalHistory(
        projections_pb2.GetGoalHistoryRequest(
            goal_id=created.goal.id, consistency_tokens=[created.position_token]
        ),
        metadata=admin,
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

"""Retried commands happen once: a request id makes a retry answer the first result and store
nothing, on SQLite and PostgreSQL, over gRPC; another request under the same id is refused."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import timedelta

import grpc
import pytest

from northstar.directory.v1 import directory_pb2
from northstar.goals.v1 import goals_pb2 as pb
from services.shared.grpc_server import error_details
from tests.integration.conftest import RunningSystem, bearer
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

OWNER = bearer("owner-1", ["employee"])
HR = bearer("hr-1", ["hr_admin"])


def new_goal(title: str, request_id: str) -> pb.CreateGoalRequest:
    return pb.CreateGoalRequest(
        title=title,
        start_date="2026-01-01",
        due_date="2026-12-31",
        metric=pb.Metric(
            kind=pb.METRIC_KIND_NUMBER, start=0, target=10, direction=pb.METRIC_DIRECTION_INCREASE
        ),
        activate=True,
        request_id=request_id,
    )


def goals_stored_after(system: RunningSystem, position: int) -> set[str]:
    """Ids of the goals whose events were stored after notification `position`."""
    recorder = system.goals.app.recorder
    notifications = recorder.select_notifications(position, 100_000, inclusive_of_start=False)
    return {str(n.originator_id) for n in notifications}


def position(system: RunningSystem) -> int:
    return system.goals.app.recorder.max_notification_id() or 0


async def test_a_create_whose_answer_the_client_missed_is_answered_again_on_retry(
    running_system: RunningSystem,
) -> None:
    system = running_system
    saved, slow_answer = threading.Event(), threading.Event()

    def answer_slowly(appended: int) -> None:
        # The save is done; the answer comes after the client's deadline.
        if not slow_answer.is_set():
            slow_answer.set()
            saved.set()
            time.sleep(1.0)

    system.goals.app.after_save.insert(0, answer_slowly)
    before = position(system)
    request = new_goal("Renew the support contract", str(uuid.uuid4()))
    with pytest.raises(grpc.aio.AioRpcError) as timed_out:
        await system.goals_stub.CreateGoal(request, metadata=OWNER, timeout=0.3)
    assert timed_out.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await eventually(saved.is_set, what="the first attempt's save")
    first = goals_stored_after(system, before)
    assert len(first) == 1
    after_first = position(system)

    retried = await system.goals_stub.CreateGoal(request, metadata=OWNER)

    assert {retried.goal.id} == first
    assert retried.goal.title == "Renew the support contract"
    assert position(system) == after_first, "the retry stored something"


async def test_a_storm_of_timed_out_creates_retried_with_their_ids_makes_one_goal_each(
    tenant_system: RunningSystem,
) -> None:
    owner = tenant_system.bearer("owner-1", ["employee"])
    system = tenant_system
    before = position(system)
    requests = [new_goal(f"Storm goal {n}", str(uuid.uuid4())) for n in range(30)]
    missed = []
    for request in requests:
        try:
            await system.goals_stub.CreateGoal(request, metadata=owner, timeout=0.001)
        except grpc.aio.AioRpcError as error:
            missed.append(error.code())
    assert set(missed) <= {grpc.StatusCode.DEADLINE_EXCEEDED}
    retried = [await system.goals_stub.CreateGoal(r, metadata=owner) for r in requests]
    ids = [response.goal.id for response in retried]
    assert len(set(ids)) == len(requests)
    assert goals_stored_after(system, before) == set(ids)


async def test_copies_of_one_request_sent_at_once_store_one_goal(
    tenant_system: RunningSystem,
) -> None:
    owner = tenant_system.bearer("owner-1", ["employee"])
    system = tenant_system
    before = position(system)
    request = new_goal("Hire two engineers", str(uuid.uuid4()))
    answers = await asyncio.gather(
        *(system.goals_stub.CreateGoal(request, metadata=owner) for _ in range(8))
    )
    assert len({answer.goal.id for answer in answers}) == 1
    assert goals_stored_after(system, before) == {answers[0].goal.id}


async def test_another_request_under_a_used_id_is_refused_naming_request_id(
    tenant_system: RunningSystem,
) -> None:
    owner = tenant_system.bearer("owner-1", ["employee"])
    system = tenant_system
    request_id = str(uuid.uuid4())
    await system.goals_stub.CreateGoal(new_goal("Publish the roadmap", request_id), metadata=owner)
    before = position(system)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await system.goals_stub.CreateGoal(
            new_goal("Publish a different roadmap", request_id), metadata=owner
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "request_id" in error_details(refused.value)
    assert position(system) == before


async def test_changing_commands_retried_with_their_id_change_once(
    tenant_system: RunningSystem,
) -> None:
    owner = tenant_system.bearer("owner-1", ["employee"])
    system, stub = tenant_system, tenant_system.goals_stub
    goal = await stub.CreateGoal(new_goal("Cut build time", ""), metadata=owner)
    check_in = pb.CheckInRequest(
        goal_id=goal.goal.id, value=3, confidence=0.6, request_id=str(uuid.uuid4())
    )
    first = await stub.CheckIn(check_in, metadata=owner)
    before = position(system)
    again = await stub.CheckIn(check_in, metadata=owner)
    assert (again.version, again.position_token) == (first.version, first.position_token)
    assert position(system) == before
    # The same id on another goal is another request.
    other = await stub.CreateGoal(new_goal("Cut test time", ""), metadata=owner)
    check_in.goal_id = other.goal.id
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CheckIn(check_in, metadata=owner)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_cascade_retried_with_its_id_answers_the_goals_it_created(
    tenant_system: RunningSystem,
) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    stub = tenant_system.goals_stub
    team_goal = await stub.CreateGoal(
        pb.CreateGoalRequest(
            title="Ship the mobile app",
            owner_id="manager-1",
            team_id="team-a",
            level=pb.GOAL_LEVEL_TEAM,
            start_date="2026-01-01",
            activate=True,
        ),
        metadata=hr,
    )
    cascade = pb.CascadeGoalRequest(goal_id=team_goal.goal.id, request_id=str(uuid.uuid4()))
    first = await stub.CascadeGoal(cascade, metadata=hr)
    before = position(tenant_system)
    again = await stub.CascadeGoal(cascade, metadata=hr)
    assert [c.goal.id for c in again.created] == [c.goal.id for c in first.created]
    assert len(first.created) == 2
    assert position(tenant_system) == before


async def test_a_request_id_is_forgotten_after_the_retention_window(
    running_system: RunningSystem,
) -> None:
    system = running_system
    request = new_goal("Run the annual survey", str(uuid.uuid4()))
    first = await system.goals_stub.CreateGoal(request, metadata=OWNER)
    system.goals.app.request_retention = timedelta(0)
    second = await system.goals_stub.CreateGoal(request, metadata=OWNER)
    assert second.goal.id != first.goal.id


async def test_directory_upserts_retried_with_their_id_answer_the_first_result(
    tenant_system: RunningSystem,
) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    system, stub = tenant_system, tenant_system.directory_stub
    upsert = directory_pb2.UpsertPersonRequest(
        person_id="new-hire-1",
        name="New Hire",
        email="new.hire@acme.example",
        team_id="team-a",
        request_id=str(uuid.uuid4()),
    )
    first = await stub.UpsertPerson(upsert, metadata=hr)
    recorder = system.directory.app.recorder
    before = recorder.max_notification_id()
    again = await stub.UpsertPerson(upsert, metadata=hr)
    assert (again.version, again.changed, again.person) == (first.version, True, first.person)
    assert recorder.max_notification_id() == before
    upsert.name = "Renamed Hire"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.UpsertPerson(upsert, metadata=hr)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "request_id" in error_details(refused.value)


async def test_a_malformed_request_id_is_invalid(tenant_system: RunningSystem) -> None:
    owner = tenant_system.bearer("owner-1", ["employee"])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await tenant_system.goals_stub.CreateGoal(
            new_goal("Badly named", "has spaces in it"), metadata=owner
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in error_details(refused.value)

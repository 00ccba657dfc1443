"""Two goals replicas on one PostgreSQL store, under a few thousand concurrent commands: no
command is answered INTERNAL, and what the clients were told matches what the store holds (a
command answered OK is stored once, a refused one is not stored at all)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from northstar.goals.v1 import goals_pb2 as pb
from northstar.goals.v1 import goals_pb2_grpc
from services.goals.__main__ import GoalsService, start_goals_service
from tests.integration.conftest import (
    FAST_RETRY,
    RunningSystem,
    bearer,
    conninfo_to_url,
    holds_seed_organisation,
    started_system,
    system_settings,
)
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(600)]

COMMANDS = 3000
CLIENTS_PER_REPLICA = 12
SHARED_GOALS = 12
HR = bearer("hr-1", ["hr_admin"])


@dataclass
class TwoReplicas:
    system: RunningSystem  # directory, projections and the first goals replica
    second: GoalsService
    stubs: list[goals_pb2_grpc.GoalServiceAsyncStub]


@pytest.fixture
async def two_replicas(
    postgres_schema_dsn: str, tmp_path: Path, kafka_bootstrap_servers: str
) -> AsyncIterator[TwoReplicas]:
    settings = system_settings(
        conninfo_to_url(postgres_schema_dsn), tmp_path, kafka_bootstrap_servers
    )
    async with started_system(settings) as system:
        second = await start_goals_service(settings, retry=FAST_RETRY)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{second.runtime.grpc_port}")
        try:
            await eventually(
                lambda: holds_seed_organisation(second.replica),
                within_seconds=60,
                what="the second replica's directory",
            )
            stubs = [system.goals_stub, goals_pb2_grpc.GoalServiceStub(channel)]
            yield TwoReplicas(system, second, stubs)
        finally:
            await channel.close(None)
            await second.stop()


def create_request(marker: str) -> pb.CreateGoalRequest:
    return pb.CreateGoalRequest(
        title=marker,
        owner_id=random.choice(["owner-1", "owner-2"]),
        start_date="2026-01-01",
        due_date="2026-12-31",
        metric=pb.Metric(
            kind=pb.METRIC_KIND_NUMBER,
            start=0,
            target=1000,
            direction=pb.METRIC_DIRECTION_INCREASE,
        ),
        activate=True,
        request_id=str(uuid.uuid4()),
    )


def stored_markers(service: GoalsService) -> Counter[str]:
    """How often each command's marker (a new goal's title, a check-in's note) is stored."""
    app = service.app
    markers: Counter[str] = Counter()
    start = 0
    while batch := app.recorder.select_notifications(start, 1000, inclusive_of_start=False):
        for notification in batch:
            event = app.mapper.to_domain_event(notification)
            marker = getattr(event, "note", None) or getattr(event, "title", None)
            if isinstance(marker, str) and marker.startswith("cmd-"):
                markers[marker] += 1
        start = batch[-1].id
    return markers


async def test_two_replicas_answer_no_internal_error_and_every_answer_matches_the_store(
    two_replicas: TwoReplicas,
) -> None:
    stubs = two_replicas.stubs
    shared = [
        (await stubs[n % 2].CreateGoal(create_request(f"cmd-shared-{n}"), metadata=HR)).goal.id
        for n in range(SHARED_GOALS)
    ]
    answers: dict[str, grpc.StatusCode] = {}
    commands = iter(range(COMMANDS))

    async def client(stub: goals_pb2_grpc.GoalServiceAsyncStub) -> None:
        for n in commands:
            marker = f"cmd-{n}"
            try:
                if n % 10 == 0:
                    await stub.CreateGoal(create_request(marker), metadata=HR)
                else:
                    check_in = pb.CheckInRequest(
                        goal_id=random.choice(shared),
                        value=float(n % 1000),
                        confidence=0.5,
                        note=marker,
                        request_id=str(uuid.uuid4()),
                    )
                    await stub.CheckIn(check_in, metadata=HR)
                answers[marker] = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as error:
                answers[marker] = error.code()

    await asyncio.gather(*(client(stub) for stub in stubs for _ in range(CLIENTS_PER_REPLICA)))

    codes = Counter(answers.values())
    print(f"answers of {COMMANDS} commands over two replicas: {dict(codes)}")
    assert codes[grpc.StatusCode.INTERNAL] == 0, codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.ABORTED}, codes
    stored = stored_markers(two_replicas.second)
    answered_ok = {m for m, code in answers.items() if code == grpc.StatusCode.OK}
    assert {m for m in stored if not m.startswith("cmd-shared-")} == answered_ok
    assert set(stored.values()) == {1}, "a command was stored twice"


RACES = 200


async def test_replicas_racing_opposite_alignments_never_record_a_loop(
    two_replicas: TwoReplicas,
) -> None:
    """A under B on one replica, B under A on the other, at the same instant, RACES times: one
    of each pair is stored, the other refused as a loop (FAILED_PRECONDITION on the field), and
    no pair in the store points at each other."""
    first, second = two_replicas.stubs
    created = await asyncio.gather(
        *(
            two_replicas.stubs[n % 2].CreateGoal(create_request(f"race-{n}"), metadata=HR)
            for n in range(2 * RACES)
        )
    )
    pairs = [(created[2 * n].goal.id, created[2 * n + 1].goal.id) for n in range(RACES)]

    async def align(stub: goals_pb2_grpc.GoalServiceAsyncStub, goal_id: str, parent: str) -> str:
        """ "aligned", or the refusal's code and message."""
        try:
            await stub.AlignGoal(
                pb.AlignGoalRequest(goal_id=goal_id, parent_goal_id=parent), metadata=HR
            )
        except grpc.aio.AioRpcError as error:
            loop = f"parent_goal_id: linking to goal {parent} would create a cycle"
            if (error.code(), error.details()) == (grpc.StatusCode.FAILED_PRECONDITION, loop):
                return "refused as a loop"
            return f"{error.code()}: {error.details()}"
        return "aligned"

    outcomes = Counter[tuple[str, str]]()
    for a, b in pairs:
        pair = await asyncio.gather(align(first, a, b), align(second, b, a))
        outcomes[tuple(sorted(pair))] += 1  # type: ignore[index]
    print(f"opposite alignments over two replicas, {RACES} races: {dict(outcomes)}")
    app = two_replicas.second.app
    loops = [
        (a, b)
        for a, b in pairs
        if app.get_goal("acme", uuid.UUID(a)).parent_goal_id == uuid.UUID(b)
        and app.get_goal("acme", uuid.UUID(b)).parent_goal_id == uuid.UUID(a)
    ]
    assert loops == []
    assert outcomes == {("aligned", "refused as a loop"): RACES}

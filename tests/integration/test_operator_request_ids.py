"""The operators' commands of the projections service (StartRebuild, RetryParkedEvents,
SkipParkedEvent) take a client request id, on both stores: a retry under the same id answers
the first result and changes nothing, another request under the id is refused, a malformed id
is INVALID_ARGUMENT, and the records live in the read-model store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any

import grpc
import pytest

from northstar.projections.v1 import projections_pb2 as pb
from services.projections.operator_requests import OperatorRequestLog
from services.shared.auth import PLATFORM_TENANT
from services.shared.idempotency import RequestKey
from tests.builders import created, envelope
from tests.integration.conftest import RunningSystem, platform_operator

pytestmark = [pytest.mark.kafka]

OPERATOR = platform_operator("ops-1")


async def live_after_rebuild(system: RunningSystem, version: str) -> None:
    """Waits for the directory audit's rebuild to `version` to be switched in."""
    for _ in range(1200):
        status: pb.RebuildStatus = await system.projections_stub.GetRebuildStatus(
            pb.GetRebuildStatusRequest(read_model=pb.READ_MODEL_DIRECTORY_AUDIT),
            metadata=OPERATOR,
        )
        if status.live_version == version and not status.building_version:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{version} was not switched in")


async def refusal(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return refused.value


async def test_a_retried_rebuild_start_answers_its_rebuild_and_starts_no_other(
    running_system: RunningSystem,
) -> None:
    stub = running_system.projections_stub
    request = pb.StartRebuildRequest(
        read_model=pb.READ_MODEL_DIRECTORY_AUDIT, request_id=str(uuid.uuid4())
    )
    first = await stub.StartRebuild(request, metadata=OPERATOR)
    assert first.building_version
    # Without the id this is "already running" while it runs, or a second rebuild after it.
    again = await stub.StartRebuild(request, metadata=OPERATOR)
    assert first.building_version in (again.building_version, again.live_version)

    await live_after_rebuild(running_system, first.building_version)
    late = await stub.StartRebuild(request, metadata=OPERATOR)
    assert (late.live_version, late.building_version) == (first.building_version, "")

    other = pb.StartRebuildRequest(read_model=pb.READ_MODEL_GOALS, request_id=request.request_id)
    reused = await refusal(stub.StartRebuild(other, metadata=OPERATOR))
    assert reused.code() == grpc.StatusCode.FAILED_PRECONDITION, reused.details()
    assert "request_id" in (reused.details() or "")
    malformed = pb.StartRebuildRequest(read_model=pb.READ_MODEL_GOALS, request_id="two words")
    invalid = await refusal(stub.StartRebuild(malformed, metadata=OPERATOR))
    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in (invalid.details() or "")

    # In the store, not in the process: a restarted or another replica reads the same record.
    log = OperatorRequestLog(running_system.projections.db)
    key = RequestKey(PLATFORM_TENANT, "ops-1", request.request_id)
    assert log.find_request(key, 0.0) is not None


async def test_retried_parked_event_commands_answer_their_first_outcome(
    running_system: RunningSystem,
) -> None:
    stub = running_system.projections_stub
    goal = str(uuid.uuid4())
    # An event type this code does not know, at the goal's next version: parked.
    stray = envelope(goal, 2, ("goals.GoalCheered", {"by": "x"})).model_copy(
        update={"id": str(uuid.uuid4())}
    )
    ledger = running_system.projections.read_models.live_ledger("goals")
    assert ledger.take([envelope(goal, 1, created("Parked")), stray]) == [True, False]

    retry = pb.RetryParkedEventsRequest(
        read_model=pb.READ_MODEL_GOALS, aggregate_id=goal, request_id=str(uuid.uuid4())
    )
    retried = await stub.RetryParkedEvents(retry, metadata=OPERATOR)
    assert (retried.applied, retried.still_parked) == (0, 1)

    skip = pb.SkipParkedEventRequest(
        read_model=pb.READ_MODEL_GOALS,
        aggregate_id=goal,
        event_id=stray.id,
        reason="not ours",
        request_id=str(uuid.uuid4()),
    )
    skipped = await stub.SkipParkedEvent(skip, metadata=OPERATOR)
    assert (skipped.skipped, skipped.still_parked) == (1, 0)

    # Nothing is parked any more: without an id both would be NOT_FOUND.
    assert await stub.SkipParkedEvent(skip, metadata=OPERATOR) == skipped
    assert await stub.RetryParkedEvents(retry, metadata=OPERATOR) == retried
    bare = pb.SkipParkedEventRequest()
    bare.CopyFrom(skip)
    bare.ClearField("request_id")
    gone = await refusal(stub.SkipParkedEvent(bare, metadata=OPERATOR))
    assert gone.code() == grpc.StatusCode.NOT_FOUND

    other = pb.SkipParkedEventRequest()
    other.CopyFrom(skip)
    other.reason = "another reason"
    reused = await refusal(stub.SkipParkedEvent(other, metadata=OPERATOR))
    assert reused.code() == grpc.StatusCode.FAILED_PRECONDITION, reused.details()
    assert "request_id" in (reused.details() or "")
    malformed = pb.RetryParkedEventsRequest(
        read_model=pb.READ_MODEL_GOALS, aggregate_id=goal, request_id="x" * 129
    )
    invalid = await refusal(stub.RetryParkedEvents(malformed, metadata=OPERATOR))
    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in (invalid.details() or "")

"""Operations that span tenants (read-model rebuilds, their status, content hashes) are the
platform operator's alone, and the platform operator reads no tenant's data, over gRPC."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from northstar.directory.v1 import directory_pb2
from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2 as pb
from tests.integration.conftest import RunningSystem, bearer, platform_operator

pytestmark = [pytest.mark.kafka]

OPERATOR = platform_operator()
TENANT_CALLERS = {
    "hr admin": bearer("hr-1", ["hr_admin"]),
    "auditor": bearer("auditor-1", ["auditor"]),
    "integration": bearer("ops-1", ["integration"]),
    "manager": bearer("manager-1", ["manager"]),
    "employee": bearer("owner-1", ["employee"]),
    "another tenant's hr admin": bearer("globex-hr", ["hr_admin"], "globex"),
}


async def code_of(call: Awaitable[Any]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def platform_calls(system: RunningSystem) -> dict[str, Callable[[Any], Awaitable[Any]]]:
    stub = system.projections_stub
    return {
        "content hash": lambda who: stub.GetContentHash(
            pb.GetContentHashRequest(read_model=pb.READ_MODEL_GOALS), metadata=who
        ),
        "rebuild status": lambda who: stub.GetRebuildStatus(
            pb.GetRebuildStatusRequest(read_model=pb.READ_MODEL_GOALS), metadata=who
        ),
        "start a rebuild": lambda who: stub.StartRebuild(
            pb.StartRebuildRequest(read_model=pb.READ_MODEL_DIRECTORY_AUDIT), metadata=who
        ),
    }


async def test_cross_tenant_operations_are_refused_to_every_tenant_role(
    running_system: RunningSystem,
) -> None:
    before = await running_system.projections_stub.GetRebuildStatus(
        pb.GetRebuildStatusRequest(read_model=pb.READ_MODEL_DIRECTORY_AUDIT), metadata=OPERATOR
    )
    answers = {
        (operation, caller): await code_of(call(token))
        for operation, call in platform_calls(running_system).items()
        for caller, token in TENANT_CALLERS.items()
    }
    assert set(answers.values()) == {grpc.StatusCode.PERMISSION_DENIED}, answers
    after = await running_system.projections_stub.GetRebuildStatus(
        pb.GetRebuildStatusRequest(read_model=pb.READ_MODEL_DIRECTORY_AUDIT), metadata=OPERATOR
    )
    assert after.building_version == before.building_version == ""


async def test_the_platform_operator_runs_them(running_system: RunningSystem) -> None:
    answers = {
        operation: await code_of(call(OPERATOR))
        for operation, call in platform_calls(running_system).items()
    }
    assert answers == dict.fromkeys(answers, grpc.StatusCode.OK)


async def test_the_platform_operator_reads_no_tenant_data(running_system: RunningSystem) -> None:
    system = running_system
    projections, goals = system.projections_stub, system.goals_stub
    tenant_reads: dict[str, Awaitable[Any]] = {
        "alignment tree": projections.GetAlignmentTree(
            pb.GetAlignmentTreeRequest(), metadata=OPERATOR
        ),
        "alignment summary": projections.GetAlignmentSummary(
            pb.GetAlignmentSummaryRequest(), metadata=OPERATOR
        ),
        "verify history": projections.VerifyHistory(pb.VerifyHistoryRequest(), metadata=OPERATOR),
        "list goals": goals.ListGoals(goals_pb2.ListGoalsRequest(), metadata=OPERATOR),
        "directory person": system.directory_stub.GetPerson(
            directory_pb2.GetPersonRequest(person_id="owner-1"), metadata=OPERATOR
        ),
        "create a goal": goals.CreateGoal(
            goals_pb2.CreateGoalRequest(title="x", start_date="2026-01-01"), metadata=OPERATOR
        ),
    }
    answers = {name: await code_of(call) for name, call in tenant_reads.items()}
    assert answers == dict.fromkeys(answers, grpc.StatusCode.PERMISSION_DENIED)

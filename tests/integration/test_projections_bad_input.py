"""Every projections RPC answers bad input precisely: the status code and the field at fault;
another tenant's ids (and private goals the caller may not see) exactly like unknown ones."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2 as pb
from services.directory.domain import person_uuid
from services.shared.grpc_server import error_details
from services.shared.position import decode_position_token, encode_position_token
from tests.integration.conftest import RunningSystem, platform_operator
from tests.integration.test_walking_skeleton import create, metric

pytestmark = [pytest.mark.kafka]

OPERATOR = platform_operator()

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED
DEADLINE = grpc.StatusCode.DEADLINE_EXCEEDED
SHORT_WAIT_SECONDS = 0.3
"""The read-your-writes timeout once the test's own goals are in: tokens that are never reached
(unknown or another tenant's) answer after it."""


async def failure(call: Callable[[], Awaitable[Any]]) -> tuple[grpc.StatusCode, set[str], str]:
    """(code, fields at fault, message) of a call that must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call()
    error = caught.value
    return error.code(), set(error_details(error)), error.details() or ""


async def drain(stream: Any) -> None:
    async for _chunk in stream:
        pass


async def test_every_rpc_names_the_field_at_fault_and_hides_other_tenants(
    tenant_system: RunningSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    auditor = tenant_system.bearer("auditor-1", ["auditor"])
    manager = tenant_system.bearer("manager-1", ["manager"])
    employee = tenant_system.bearer("owner-1", ["employee"])
    globex_hr = tenant_system.bearer("globex-hr", ["hr_admin"], "globex")
    system = tenant_system
    stub = system.projections_stub
    goal = await create(system, "Grow revenue", goals_pb2.GOAL_LEVEL_COMPANY, metric=metric(0, 10))
    secret = await create(
        system,
        "Private plan",
        goals_pb2.GOAL_LEVEL_PERSONAL,
        owner_id="owner-2",
        visibility=goals_pb2.GOAL_VISIBILITY_PRIVATE,
    )
    shared = await create(system, "Team offsite", goals_pb2.GOAL_LEVEL_PERSONAL, owner_id="owner-2")
    theirs = await create(
        system,
        "Globex growth",
        goals_pb2.GOAL_LEVEL_COMPANY,
        owner_id="globex-owner",
        team_id="",
        metadata=globex_hr,
    )
    await stub.GetAlignmentTree(
        pb.GetAlignmentTreeRequest(
            consistency_tokens=[goal.position_token, secret.position_token, shared.position_token]
        ),
        metadata=hr,
    )
    await stub.GetAlignmentTree(
        pb.GetAlignmentTreeRequest(consistency_tokens=[theirs.position_token]), metadata=globex_hr
    )
    # Put back when the test ends: the system serves the module's other tests too.
    monkeypatch.setattr(
        system.projections.servicer.reads, "wait_timeout_seconds", SHORT_WAIT_SECONDS
    )
    unknown = str(uuid.uuid4())
    _their_goal, their_version = decode_position_token(theirs.position_token)
    unknown_position = encode_position_token(unknown, their_version)
    mine, foreign, private = goal.goal.id, theirs.goal.id, secret.goal.id
    person = str(person_uuid(system.tenant_id(), "owner-2"))

    def tree(**fields: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: stub.GetAlignmentTree(pb.GetAlignmentTreeRequest(**fields), metadata=hr)

    def summary(**fields: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: stub.GetAlignmentSummary(
            pb.GetAlignmentSummaryRequest(**fields), metadata=hr
        )

    def path(goal_id: str, caller: Any = hr) -> Callable[[], Awaitable[Any]]:
        return lambda: stub.GetGoalPath(pb.GetGoalPathRequest(goal_id=goal_id), metadata=caller)

    def contributors(**fields: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: stub.ListContributors(pb.ListContributorsRequest(**fields), metadata=hr)

    def goal_history(caller: Any = hr, **fields: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: stub.GetGoalHistory(pb.GetGoalHistoryRequest(**fields), metadata=caller)

    def audit_history(caller: Any = auditor, **fields: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: stub.GetAuditHistory(pb.GetAuditHistoryRequest(**fields), metadata=caller)

    def as_of(**fields: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: stub.GetGoalAsOf(pb.GetGoalAsOfRequest(**fields), metadata=auditor)

    def verify(caller: Any = auditor, **fields: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: stub.VerifyHistory(pb.VerifyHistoryRequest(**fields), metadata=caller)

    def export(caller: Any = auditor, **fields: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: drain(stub.ExportHistory(pb.ExportHistoryRequest(**fields), metadata=caller))

    jsonl = pb.EXPORT_FORMAT_JSONL
    cases: list[tuple[str, Callable[[], Awaitable[Any]], grpc.StatusCode, str]] = [
        ("tree: malformed root", tree(root_goal_id="nope"), INVALID, "root_goal_id"),
        ("tree: unknown root", tree(root_goal_id=unknown), NOT_FOUND, "root_goal_id"),
        ("tree: negative page size", tree(page_size=-1), INVALID, "page_size"),
        ("tree: oversized page", tree(page_size=100_000), INVALID, "page_size"),
        ("tree: malformed page token", tree(page_token="page-2"), INVALID, "page_token"),
        ("tree: bad date", tree(period_start="2026-13-01"), INVALID, "period_start"),
        (
            "tree: period backwards",
            tree(period_start="2026-06-01", period_end="2026-01-01"),
            INVALID,
            "period_end",
        ),
        (
            "tree: malformed consistency token",
            tree(consistency_tokens=[goal.position_token, "%%%"]),
            INVALID,
            "consistency_tokens[1]",
        ),
        (
            "tree: another tenant's position",
            tree(consistency_tokens=[goal.position_token, theirs.position_token]),
            DEADLINE,
            "consistency_tokens[1]",
        ),
        (
            "tree: position with no positive version",
            tree(consistency_tokens=[encode_position_token(mine, 0)]),
            INVALID,
            "consistency_tokens[0]",
        ),
        ("summary: negative page size", summary(page_size=-5), INVALID, "page_size"),
        ("summary: malformed page token", summary(page_token="offset:x"), INVALID, "page_token"),
        ("summary: bad date", summary(period_end="tomorrow"), INVALID, "period_end"),
        ("path: missing id", path(""), INVALID, "goal_id"),
        ("path: malformed id", path("goal-1"), INVALID, "goal_id"),
        ("path: unknown goal", path(unknown), NOT_FOUND, "goal_id"),
        ("path: another's private goal", path(private, employee), NOT_FOUND, "goal_id"),
        ("contributors: unknown", contributors(goal_id=unknown), NOT_FOUND, "goal_id"),
        (
            "contributors: negative page size",
            contributors(goal_id=mine, page_size=-1),
            INVALID,
            "page_size",
        ),
        (
            "contributors: malformed page token",
            contributors(goal_id=mine, page_token="offset:-3"),
            INVALID,
            "page_token",
        ),
        ("history: unknown goal", goal_history(goal_id=unknown), NOT_FOUND, "goal_id"),
        ("history: a person is not a goal", goal_history(goal_id=person), NOT_FOUND, "goal_id"),
        (
            "history: negative page size",
            goal_history(goal_id=mine, page_size=-1),
            INVALID,
            "page_size",
        ),
        ("history: not the owner", goal_history(employee, goal_id=shared.goal.id), DENIED, ""),
        ("audit: malformed id", audit_history(aggregate_id="x"), INVALID, "aggregate_id"),
        ("audit: unknown", audit_history(aggregate_id=unknown), NOT_FOUND, "aggregate_id"),
        ("audit: person for a manager", audit_history(manager, aggregate_id=person), DENIED, ""),
        ("as of: negative version", as_of(goal_id=mine, version=-1), INVALID, "version"),
        (
            "as of: version and time",
            as_of(goal_id=mine, version=1, as_of="2026-01-01T00:00:00Z"),
            INVALID,
            "as_of",
        ),
        ("as of: not a time", as_of(goal_id=mine, as_of="yesterday"), INVALID, "as_of"),
        ("as of: no zone", as_of(goal_id=mine, as_of="2026-01-01T00:00:00"), INVALID, "as_of"),
        ("as of: no such version", as_of(goal_id=mine, version=99), NOT_FOUND, "version"),
        (
            "as of: before it existed",
            as_of(goal_id=mine, as_of="2000-01-01T00:00:00Z"),
            NOT_FOUND,
            "as_of",
        ),
        ("verify: malformed id", verify(aggregate_id="1"), INVALID, "aggregate_id"),
        ("verify: unknown", verify(aggregate_id=unknown), NOT_FOUND, "aggregate_id"),
        ("verify: whole tenant by an employee", verify(employee), DENIED, ""),
        ("export: no format", export(aggregate_id=mine), INVALID, "format"),
        ("export: by a manager", export(manager, format=jsonl), DENIED, ""),
        ("export: unknown", export(aggregate_id=unknown, format=jsonl), NOT_FOUND, "aggregate_id"),
        (
            "rebuild: by an hr admin",
            lambda: stub.StartRebuild(
                pb.StartRebuildRequest(read_model=pb.READ_MODEL_GOALS), metadata=hr
            ),
            DENIED,
            "",
        ),
        (
            "rebuild: no read model",
            lambda: stub.StartRebuild(pb.StartRebuildRequest(), metadata=OPERATOR),
            INVALID,
            "read_model",
        ),
        (
            "rebuild status: a read model number the enum does not define",
            lambda: stub.GetRebuildStatus(
                pb.GetRebuildStatusRequest(read_model=pb.ReadModel.ValueType(99)), metadata=OPERATOR
            ),
            INVALID,
            "read_model",
        ),
        (
            "rebuild status: by an employee",
            lambda: stub.GetRebuildStatus(
                pb.GetRebuildStatusRequest(read_model=pb.READ_MODEL_GOALS), metadata=employee
            ),
            DENIED,
            "",
        ),
        (
            "content hash: no such version",
            lambda: stub.GetContentHash(
                pb.GetContentHashRequest(read_model=pb.READ_MODEL_GOALS, version="goals-v9"),
                metadata=OPERATOR,
            ),
            NOT_FOUND,
            "version",
        ),
    ]
    mismatches = []
    for name, call, code, field in cases:
        got_code, got_fields, _message = await failure(call)
        if got_code != code or (field and field not in got_fields):
            mismatches.append(f"{name}: {got_code.name} {sorted(got_fields)}")
    assert not mismatches, mismatches

    # Another tenant's id is answered exactly like an unknown one, by every RPC taking ids.
    lookalikes = [
        (tree(root_goal_id=unknown), tree(root_goal_id=foreign)),
        (path(unknown), path(foreign)),
        (contributors(goal_id=unknown), contributors(goal_id=foreign)),
        (goal_history(goal_id=unknown), goal_history(goal_id=foreign)),
        (audit_history(aggregate_id=unknown), audit_history(aggregate_id=foreign)),
        (as_of(goal_id=unknown), as_of(goal_id=foreign)),
        (verify(aggregate_id=unknown), verify(aggregate_id=foreign)),
        (
            export(aggregate_id=unknown, format=jsonl),
            export(aggregate_id=foreign, format=jsonl),
        ),
        (path(unknown, employee), path(private, employee)),
        (goal_history(employee, goal_id=unknown), goal_history(employee, goal_id=private)),
        (
            tree(consistency_tokens=[unknown_position]),
            tree(consistency_tokens=[theirs.position_token]),
        ),
    ]
    for unknown_call, foreign_call in lookalikes:
        code, fields, message = await failure(unknown_call)
        foreign_code, foreign_fields, foreign_message = await failure(foreign_call)
        assert (foreign_code, foreign_fields) == (code, fields)
        assert foreign_message.replace(foreign, unknown).replace(private, unknown) == message

    # Nor does the timing tell: another tenant's position waits out the timeout like an unknown.
    for position in (unknown_position, theirs.position_token):
        started = time.monotonic()
        code, _fields, _message = await failure(tree(consistency_tokens=[position]))
        assert (code, time.monotonic() - started >= SHORT_WAIT_SECONDS) == (DEADLINE, True)

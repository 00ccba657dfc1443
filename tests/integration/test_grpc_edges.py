"""Hostile requests against the running services: bytes that do not decode, ids of thousands
of characters, hand-made page tokens. Each is INVALID_ARGUMENT naming what is wrong, never
UNKNOWN, INTERNAL or RESOURCE_EXHAUSTED."""

from __future__ import annotations

import base64
import functools
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from northstar.directory.v1 import directory_pb2
from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from services.goals.queries import GoalFilter
from services.shared.errors import MAX_REASON_CHARACTERS
from services.shared.grpc_server import error_details
from tests.integration.conftest import RunningSystem

INVALID = grpc.StatusCode.INVALID_ARGUMENT
LONG_ID = "9" * 8000

UNDECODABLE = {
    "a truncated length-delimited field": b"\x0a\xff\x01abc",
    "an invalid wire type": b"\x0f\x01",
    "a string field that is not UTF-8": b"\x0a\x02\xff\xfe",
}


async def failure(call: Callable[[], Awaitable[Any]]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call()
    return caught.value


async def test_undecodable_request_bytes_are_invalid_on_every_service(
    tenant_system: RunningSystem,
) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    auditor = tenant_system.bearer("auditor-1", ["auditor"])
    methods = [
        (tenant_system.goals_channel, "/northstar.goals.v1.GoalService/GetGoal"),
        (tenant_system.directory_channel, "/northstar.directory.v1.DirectoryService/GetPerson"),
        (
            tenant_system.projections_channel,
            "/northstar.projections.v1.ProjectionService/GetGoalPath",
        ),
        (
            tenant_system.projections_channel,
            "/northstar.projections.v1.ProjectionService/ExportHistory",
        ),
    ]
    for (channel, method), payload in itertools.product(methods, UNDECODABLE.values()):
        if method.endswith("ExportHistory"):  # server streaming: the same path
            # No serializers: the raw bytes go out as they are.
            stream = channel.unary_stream(method, None, None)
            call: Callable[[], Awaitable[Any]] = functools.partial(
                _drain, stream(payload, metadata=auditor)
            )
        else:
            call = functools.partial(channel.unary_unary(method, None, None), payload, metadata=hr)

        error = await failure(call)

        assert error.code() == INVALID, (method, error.details())
        assert "are not a valid" in (error.details() or ""), method
        assert "DecodeError" not in (error.details() or ""), method


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass


async def test_an_id_of_eight_thousand_characters_is_echoed_bounded_with_its_field(
    tenant_system: RunningSystem,
) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    auditor = tenant_system.bearer("auditor-1", ["auditor"])
    goals, directory = tenant_system.goals_stub, tenant_system.directory_stub
    projections = tenant_system.projections_stub
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("goal_id", lambda: goals.GetGoal(goals_pb2.GetGoalRequest(goal_id=LONG_ID), metadata=hr)),
        (
            "person_id",
            lambda: directory.GetPerson(
                directory_pb2.GetPersonRequest(person_id=LONG_ID), metadata=hr
            ),
        ),
        (
            "goal_id",
            lambda: projections.GetGoalPath(
                projections_pb2.GetGoalPathRequest(goal_id=LONG_ID), metadata=hr
            ),
        ),
        (
            "aggregate_id",
            lambda: projections.GetAuditHistory(
                projections_pb2.GetAuditHistoryRequest(aggregate_id=LONG_ID), metadata=auditor
            ),
        ),
        (
            "consistency_tokens[0]",
            lambda: projections.GetAlignmentTree(
                projections_pb2.GetAlignmentTreeRequest(consistency_tokens=[LONG_ID]),
                metadata=hr,
            ),
        ),
    ]
    for field, call in calls:
        error = await failure(call)

        assert error.code() in {INVALID, grpc.StatusCode.NOT_FOUND}, (field, error.details())
        details = error_details(error)
        assert field in details, (field, details)
        assert len(details[field]) <= MAX_REASON_CHARACTERS
        assert len(error.details() or "") <= MAX_REASON_CHARACTERS + 40


def goals_page_token(after: Any) -> str:
    text = json.dumps({"after": after, "filter": GoalFilter().fingerprint()})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


HAND_MADE_GOAL_PAGE_TOKENS = [
    goals_page_token(5),
    goals_page_token([1, 2]),
    goals_page_token({"id": "x"}),
    goals_page_token(None),
    goals_page_token("5"),
    base64.urlsafe_b64encode(b"[1, 2]").decode(),
    base64.urlsafe_b64encode(b'"after"').decode(),
    "A" * 10_000,
    "é",
]
HAND_MADE_OFFSET_TOKENS = [
    "offset:²",
    "offset:" + "9" * 5000,
    "offset:1_0",
    "offset: 1",
    "offset:١٢",
    "offset:5\n",
]


async def test_hand_made_page_tokens_are_invalid(tenant_system: RunningSystem) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    goals = tenant_system.goals_stub
    for token in HAND_MADE_GOAL_PAGE_TOKENS:
        request = goals_pb2.ListGoalsRequest(page_token=token)

        error = await failure(functools.partial(goals.ListGoals, request, metadata=hr))

        assert error.code() == INVALID, (token[:80], error.details())
        assert set(error_details(error)) == {"page_token"}
    for token in HAND_MADE_OFFSET_TOKENS:
        for call in offset_paged_calls(tenant_system, token):
            error = await failure(call)

            assert error.code() == INVALID, (token[:80], error.details())
            assert set(error_details(error)) == {"page_token"}, error_details(error)


def offset_paged_calls(system: RunningSystem, token: str) -> list[Callable[[], Awaitable[Any]]]:
    stub = system.projections_stub
    pb = projections_pb2
    hr, auditor = system.bearer("hr-1", ["hr_admin"]), system.bearer("auditor-1", ["auditor"])
    return [
        lambda: stub.GetAlignmentTree(pb.GetAlignmentTreeRequest(page_token=token), metadata=hr),
        lambda: stub.GetAlignmentSummary(
            pb.GetAlignmentSummaryRequest(page_token=token), metadata=hr
        ),
        lambda: stub.GetAuditHistory(
            pb.GetAuditHistoryRequest(
                aggregate_id="00000000-0000-0000-0000-000000000001", page_token=token
            ),
            metadata=auditor,
        ),
    ]


async def test_a_nul_in_a_query_filter_is_invalid_on_either_store(
    tenant_system: RunningSystem,
) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    # Found by the fuzzer: PostgreSQL refuses NUL in text parameters, which was INTERNAL.
    goals = tenant_system.goals_stub
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        (
            "owner_id",
            lambda: goals.ListGoals(goals_pb2.ListGoalsRequest(owner_id="\0"), metadata=hr),
        ),
        (
            "team_id",
            lambda: goals.ListGoals(goals_pb2.ListGoalsRequest(team_id="a\0"), metadata=hr),
        ),
        (
            "team_id",
            lambda: goals.SummariseSmart(
                goals_pb2.SummariseSmartRequest(team_id="\0"), metadata=hr
            ),
        ),
    ]
    for field, call in calls:
        error = await failure(call)

        assert error.code() == INVALID, (field, error.details())
        assert error_details(error) == {field: "must not contain control characters"}

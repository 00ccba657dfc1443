"""The shared gRPC bootstrap, exercised through a real in-process server on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, cast

import grpc
import jwt
import pytest
from eventsourcing.persistence import RecordConflictError
from google.protobuf import descriptor_pb2
from google.rpc import code_pb2, error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from northstar.goals.v1 import goals_pb2, goals_pb2_grpc
from services.shared import errors
from services.shared.auth import Authenticator, current_principal, mint_dev_token
from services.shared.grpc_server import (
    RunningServer,
    error_details,
    error_reason,
    start_grpc_server,
)
from services.shared.metrics import ServiceMetrics

SECRET = "unit-test-secret-long-enough-for-hs256"
GOAL_SERVICE = "northstar.goals.v1.GoalService"
GET_GOAL = f"/{GOAL_SERVICE}/GetGoal"


class AlignmentCycle(errors.FailedPrecondition):
    """A domain-specific error, as services define them."""


# goal_id -> what the fake servicer raises for it.
RAISED_FOR: dict[str, Callable[[], BaseException]] = {
    "invalid": lambda: errors.InvalidArgument("must not be blank", field="title"),
    "missing": lambda: errors.NotFound("no such goal", field="goal_id"),
    "draft": lambda: errors.FailedPrecondition("goal is not active", field="goal_id"),
    "raced": lambda: errors.ConcurrentUpdate("version 3 was taken", field="expected_version"),
    "anonymous": lambda: errors.Unauthenticated("who are you", field="authorization"),
    "forbidden": lambda: errors.PermissionDenied("not your goal", field="goal_id"),
    "slow": lambda: errors.DeadlineExceeded("read model behind", field="consistency_tokens"),
    "cycle": lambda: AlignmentCycle("would create a cycle", field="parent_goal_id"),
    "crash": lambda: RuntimeError("connection to /var/secret/db.sqlite failed"),
    "conflict": lambda: RecordConflictError("UNIQUE constraint failed: stored_events"),
}


class FakeGoalService(goals_pb2_grpc.GoalServiceServicer):
    """Answers GetGoal with the caller's identity, or raises what the goal id asks for."""

    async def GetGoal(  # noqa: N802 (generated name)
        self, request: goals_pb2.GetGoalRequest, context: Any
    ) -> goals_pb2.Goal:
        if request.goal_id in RAISED_FOR:
            raise RAISED_FOR[request.goal_id]()
        principal = current_principal()
        return goals_pb2.Goal(
            id=request.goal_id,
            owner_id=principal.subject,
            tenant_id=principal.tenant_id,
            description=",".join(sorted(principal.roles)),
        )


def fake_goal_service() -> FakeGoalService:
    # Only GetGoal is exercised; the generated base class answers UNIMPLEMENTED for the rest.
    return FakeGoalService()  # type: ignore[abstract]


@dataclass
class Harness:
    running: RunningServer
    channel: grpc.aio.Channel
    metrics: ServiceMetrics

    @property
    def goals(self) -> goals_pb2_grpc.GoalServiceAsyncStub:
        return goals_pb2_grpc.GoalServiceStub(self.channel)

    def requests_counted(self, method: str, code: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "northstar_grpc_requests_total", {"method": method, "code": code}
        )
        return value or 0.0


async def start_harness(authenticator: Authenticator | None) -> Harness:
    metrics = ServiceMetrics("goals-test")
    running = await start_grpc_server(
        service_name="goals-test",
        servicers=[(goals_pb2_grpc.add_GoalServiceServicer_to_server, fake_goal_service())],
        service_full_names=[GOAL_SERVICE],
        host="127.0.0.1",
        port=0,
        metrics=metrics,
        authenticator=authenticator,
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    return Harness(running=running, channel=channel, metrics=metrics)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    started = await start_harness(Authenticator.dev(SECRET))
    yield started
    await started.channel.close(None)
    await started.running.stop(None)


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def manager_token(**overrides: Any) -> str:
    claims: dict[str, Any] = {"subject": "p1", "tenant_id": "acme", "roles": ["manager"]}
    return mint_dev_token(SECRET, **(claims | overrides))


async def get_goal_error(harness: Harness, goal_id: str, metadata: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await harness.goals.GetGoal(goals_pb2.GetGoalRequest(goal_id=goal_id), metadata=metadata)
    return raised.value


async def test_health_check_reports_serving_without_a_token(harness: Harness) -> None:
    stub = health_pb2_grpc.HealthStub(harness.channel)
    for service in ("", GOAL_SERVICE):
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_registered_services(harness: Harness) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(harness.channel)
    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {
        service.name
        async for response in call
        for service in response.list_services_response.service
    }
    assert {GOAL_SERVICE, "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize(
    "symbol",
    [
        GOAL_SERVICE,
        f"{GOAL_SERVICE}.GetGoal",  # what `grpcurl describe <Service>.<Method>` asks for
        "northstar.goals.v1.Goal",
        "northstar.goals.v1.Goal.title",
        "northstar.goals.v1.GOAL_LEVEL_COMPANY",
    ],
)
async def test_reflection_finds_the_file_of_every_kind_of_symbol(
    harness: Harness, symbol: str
) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(harness.channel)
    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)])
    )
    responses = [response async for response in call]
    assert [response.WhichOneof("message_response") for response in responses] == [
        "file_descriptor_response"
    ]
    files = {
        descriptor_pb2.FileDescriptorProto.FromString(raw).name
        for raw in responses[0].file_descriptor_response.file_descriptor_proto
    }
    assert "northstar/goals/v1/goals.proto" in files


async def test_reflection_answers_not_found_for_an_unknown_method(harness: Harness) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(harness.channel)
    call = stub.ServerReflectionInfo(
        iter(
            [
                reflection_pb2.ServerReflectionRequest(
                    file_containing_symbol=f"{GOAL_SERVICE}.NoSuchMethod"
                )
            ]
        )
    )
    responses = [response async for response in call]
    assert responses[0].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


@pytest.mark.parametrize(
    ("goal_id", "code", "field", "reason"),
    [
        ("invalid", grpc.StatusCode.INVALID_ARGUMENT, "title", "must not be blank"),
        ("missing", grpc.StatusCode.NOT_FOUND, "goal_id", "no such goal"),
        ("draft", grpc.StatusCode.FAILED_PRECONDITION, "goal_id", "goal is not active"),
        ("raced", grpc.StatusCode.ABORTED, "expected_version", "version 3 was taken"),
        ("anonymous", grpc.StatusCode.UNAUTHENTICATED, "authorization", "who are you"),
        ("forbidden", grpc.StatusCode.PERMISSION_DENIED, "goal_id", "not your goal"),
        ("slow", grpc.StatusCode.DEADLINE_EXCEEDED, "consistency_tokens", "read model behind"),
    ],
)
async def test_each_error_class_maps_to_its_code_with_field_detail(
    harness: Harness, goal_id: str, code: grpc.StatusCode, field: str, reason: str
) -> None:
    error = await get_goal_error(harness, goal_id, bearer(manager_token()))

    assert error.code() == code
    assert error.details() == f"{field}: {reason}"
    assert error_details(error) == {field: reason}


async def test_domain_error_subclass_keeps_its_base_code_and_names_itself(
    harness: Harness,
) -> None:
    error = await get_goal_error(harness, "cycle", bearer(manager_token()))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(error) == {"parent_goal_id": "would create a cycle"}
    assert error_reason(error) == "ALIGNMENT_CYCLE"


async def test_standard_client_decodes_a_bad_request_with_the_google_rpc_types(
    harness: Harness,
) -> None:
    error = await get_goal_error(harness, "invalid", bearer(manager_token()))

    status = rpc_status.from_call(cast(grpc.Call, error))
    assert status is not None
    assert (status.code, status.message) == (code_pb2.INVALID_ARGUMENT, "title: must not be blank")
    bad_request, info = error_details_pb2.BadRequest(), error_details_pb2.ErrorInfo()
    assert [packed.type_url for packed in status.details] == [
        "type.googleapis.com/google.rpc.BadRequest",
        "type.googleapis.com/google.rpc.ErrorInfo",
    ]
    assert status.details[0].Unpack(bad_request)
    assert status.details[1].Unpack(info)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("title", "must not be blank")
    ]
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", "northstar")
    assert dict(info.metadata) == {"field": "title", "description": "must not be blank"}


async def test_standard_client_decodes_a_failed_precondition_with_the_google_rpc_types(
    harness: Harness,
) -> None:
    error = await get_goal_error(harness, "cycle", bearer(manager_token()))

    status = rpc_status.from_call(cast(grpc.Call, error))
    assert status is not None
    assert status.code == code_pb2.FAILED_PRECONDITION
    failure = error_details_pb2.PreconditionFailure()
    assert status.details[0].Unpack(failure)
    assert [(v.type, v.subject, v.description) for v in failure.violations] == [
        ("STATE", "parent_goal_id", "would create a cycle")
    ]


async def test_internal_error_status_carries_only_the_reference(harness: Harness) -> None:
    error = await get_goal_error(harness, "crash", bearer(manager_token()))

    status = rpc_status.from_call(cast(grpc.Call, error))
    assert status is not None
    assert status.code == code_pb2.INTERNAL
    assert status.message == error.details()
    assert list(status.details) == []


async def test_unexpected_exception_is_internal_without_leaking_its_text(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    error = await get_goal_error(harness, "crash", bearer(manager_token()))

    assert error.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (error.details() or "")
    assert (error.details() or "").startswith("internal error (")
    assert "connection to /var/secret/db.sqlite failed" in caplog.text


async def test_event_store_version_conflict_is_aborted(harness: Harness) -> None:
    error = await get_goal_error(harness, "conflict", bearer(manager_token()))

    assert error.code() == grpc.StatusCode.ABORTED
    assert "UNIQUE" not in (error.details() or "")


async def test_metrics_count_requests_by_method_and_code(harness: Harness) -> None:
    token = bearer(manager_token())
    await harness.goals.GetGoal(goals_pb2.GetGoalRequest(goal_id="g1"), metadata=token)
    await harness.goals.GetGoal(goals_pb2.GetGoalRequest(goal_id="g2"), metadata=token)
    await get_goal_error(harness, "missing", token)
    await get_goal_error(harness, "g3", None)

    assert harness.requests_counted(GET_GOAL, "OK") == 2
    assert harness.requests_counted(GET_GOAL, "NOT_FOUND") == 1
    assert harness.requests_counted(GET_GOAL, "UNAUTHENTICATED") == 1
    latency_count = harness.metrics.registry.get_sample_value(
        "northstar_grpc_request_duration_seconds_count", {"method": GET_GOAL}
    )
    assert latency_count == 4


async def test_valid_token_makes_the_principal_visible_to_the_servicer(harness: Harness) -> None:
    token = mint_dev_token(SECRET, subject="p7", tenant_id="globex", roles=["employee", "auditor"])

    goal = await harness.goals.GetGoal(
        goals_pb2.GetGoalRequest(goal_id="g1"), metadata=bearer(token)
    )

    assert (goal.owner_id, goal.tenant_id, goal.description) == ("p7", "globex", "auditor,employee")


def tampered(token: str) -> str:
    """The token with its roles raised to hr_admin and its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["roles"] = ["hr_admin"]
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return ".".join([header, forged, signature])


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (None, "missing bearer token"),
        (
            (("authorization", "Basic dXNlcjpwdw=="),),
            "authorization metadata must be 'Bearer <token>'",
        ),
        (bearer(manager_token(ttl_seconds=-300)), "token expired"),
        (bearer(tampered(manager_token())), "bad token signature"),
        (
            bearer(
                mint_dev_token(
                    "another-secret-of-enough-length!",
                    subject="p1",
                    tenant_id="acme",
                    roles=["manager"],
                )
            ),
            "bad token signature",
        ),
    ],
    ids=["missing", "not-bearer", "expired", "tampered", "wrong-key"],
)
async def test_bad_credentials_are_unauthenticated_with_the_specific_reason(
    harness: Harness, metadata: Any, reason: str
) -> None:
    error = await get_goal_error(harness, "g1", metadata)

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == f"authorization: {reason}"
    assert error_details(error) == {"authorization": reason}


async def test_without_an_authenticator_a_servicer_asking_for_the_caller_is_unauthenticated() -> (
    None
):
    started = await start_harness(None)
    try:
        error = await get_goal_error(started, "g1", bearer(manager_token()))
    finally:
        await started.channel.close(None)
        await started.running.stop(None)

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_details(error) == {"authorization": "no authenticated caller"}


async def test_stopping_reports_not_serving_then_refuses_calls(harness: Harness) -> None:
    stub = health_pb2_grpc.HealthStub(harness.channel)
    statuses = aiter(stub.Watch(health_pb2.HealthCheckRequest(service=GOAL_SERVICE)))
    assert (await anext(statuses)).status == health_pb2.HealthCheckResponse.SERVING

    stopping = asyncio.create_task(harness.running.stop(0.5))
    assert (await anext(statuses)).status == health_pb2.HealthCheckResponse.NOT_SERVING
    await stopping

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE

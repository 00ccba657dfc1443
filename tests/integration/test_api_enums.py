"""Every enum in a request, over the wire: an unset (UNSPECIFIED) value takes its documented
default or is refused naming the field, and a number the enum does not define (proto3 enums
are open, so a client can send 99) is INVALID_ARGUMENT naming the field, never INTERNAL."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import grpc
import pytest

from northstar.directory.v1 import directory_pb2
from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from services.shared.grpc_server import error_details
from tests.integration.conftest import RunningSystem, platform_operator

pytestmark = [pytest.mark.kafka]

PLATFORM = platform_operator()
UNDEFINED = 99
"""A number none of the APIs' enums defines."""


def goal_request(**fields: Any) -> goals_pb2.CreateGoalRequest:
    request = goals_pb2.CreateGoalRequest(
        title="Answer every ticket within a day",
        owner_id="owner-1",
        team_id="team-a",
        start_date="2026-01-01",
        due_date="2026-12-31",
        metric=goals_pb2.Metric(kind=goals_pb2.METRIC_KIND_NUMBER, start=0, target=100),
    )
    for name, value in fields.items():
        if name.startswith("metric."):
            setattr(request.metric, name.removeprefix("metric."), value)
        else:
            setattr(request, name, value)
    return request


def template_request(**fields: Any) -> goals_pb2.CreateGoalsFromTemplateRequest:
    request = goals_pb2.CreateGoalsFromTemplateRequest(
        template=goals_pb2.GoalTemplate(
            title="Finish the security training", start_date="2026-01-01"
        ),
        owner_ids=["owner-1"],
    )
    for name, value in fields.items():
        if name.startswith("metric."):
            setattr(request.template.metric, name.removeprefix("metric."), value)
        else:
            setattr(request.template, name, value)
    return request


def person_request(status: int) -> directory_pb2.UpsertPersonRequest:
    return directory_pb2.UpsertPersonRequest(
        person_id="enum-probe",
        name="Enum Probe",
        email="enum-probe@acme.example",
        employment_status=directory_pb2.EmploymentStatus.ValueType(status),
    )


async def drain(stream: AsyncIterable[Any]) -> None:
    async for _ in stream:
        pass


async def refusal(call: Callable[[], Awaitable[Any]]) -> tuple[grpc.StatusCode, dict[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call()
    return caught.value.code(), error_details(caught.value)


async def test_unset_and_undefined_enum_values_are_refused_naming_the_field(
    tenant_system: RunningSystem,
) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    auditor = tenant_system.bearer("auditor-1", ["auditor"])
    goals = tenant_system.goals_stub
    directory = tenant_system.directory_stub
    projections = tenant_system.projections_stub
    read_model = projections_pb2.ReadModel.ValueType
    export_format = projections_pb2.ExportFormat.ValueType

    def export(number: int) -> Callable[[], Awaitable[Any]]:
        request = projections_pb2.ExportHistoryRequest(format=export_format(number))
        return lambda: drain(projections.ExportHistory(request, metadata=auditor))

    # (what, call, field at fault, words the reason must hold)
    cases: list[tuple[str, Callable[[], Awaitable[Any]], str, str]] = [
        (
            "metric without kind",
            lambda: goals.CreateGoal(goal_request(**{"metric.kind": 0}), metadata=hr),
            "metric.kind",
            "is required: one of METRIC_KIND_NUMBER, METRIC_KIND_PERCENTAGE",
        ),
        (
            "undefined metric kind",
            lambda: goals.CreateGoal(goal_request(**{"metric.kind": UNDEFINED}), metadata=hr),
            "metric.kind",
            "99 is not a value of MetricKind",
        ),
        (
            "undefined metric direction",
            lambda: goals.CreateGoal(goal_request(**{"metric.direction": UNDEFINED}), metadata=hr),
            "metric.direction",
            "99 is not a value of MetricDirection",
        ),
        (
            "undefined level",
            lambda: goals.CreateGoal(goal_request(level=UNDEFINED), metadata=hr),
            "level",
            "99 is not a value of GoalLevel",
        ),
        (
            "undefined visibility",
            lambda: goals.CreateGoal(goal_request(visibility=UNDEFINED), metadata=hr),
            "visibility",
            "99 is not a value of GoalVisibility",
        ),
        (
            "key result metric without kind",
            lambda: goals.AddKeyResult(
                goals_pb2.AddKeyResultRequest(
                    goal_id="00000000-0000-0000-0000-000000000001",
                    title="Docs",
                    metric=goals_pb2.Metric(start=0, target=3),
                ),
                metadata=hr,
            ),
            "metric.kind",
            "is required",
        ),
        (
            "undefined template level",
            lambda: goals.CreateGoalsFromTemplate(template_request(level=UNDEFINED), metadata=hr),
            "template.level",
            "99 is not a value of GoalLevel",
        ),
        (
            "undefined template visibility",
            lambda: goals.CreateGoalsFromTemplate(
                template_request(visibility=UNDEFINED), metadata=hr
            ),
            "template.visibility",
            "99 is not a value of GoalVisibility",
        ),
        (
            "template metric without kind",
            lambda: goals.CreateGoalsFromTemplate(
                template_request(**{"metric.start": 0, "metric.target": 1}), metadata=hr
            ),
            "template.metric.kind",
            "is required",
        ),
        (
            "undefined employment status",
            lambda: directory.UpsertPerson(person_request(UNDEFINED), metadata=hr),
            "employment_status",
            "99 is not a value of EmploymentStatus",
        ),
        (
            "upsert as departed",
            lambda: directory.UpsertPerson(
                person_request(directory_pb2.EMPLOYMENT_STATUS_DEPARTED), metadata=hr
            ),
            "employment_status",
            "must be EMPLOYMENT_STATUS_ACTIVE or EMPLOYMENT_STATUS_ON_LEAVE",
        ),
        ("export without format", export(0), "format", "is required: one of EXPORT_FORMAT_JSONL"),
        (
            "undefined export format",
            export(UNDEFINED),
            "format",
            "99 is not a value of ExportFormat",
        ),
        (
            "rebuild without read model",
            lambda: projections.StartRebuild(
                projections_pb2.StartRebuildRequest(), metadata=PLATFORM
            ),
            "read_model",
            "is required: one of READ_MODEL_GOALS, READ_MODEL_DIRECTORY_AUDIT",
        ),
        (
            "rebuild of an undefined read model",
            lambda: projections.StartRebuild(
                projections_pb2.StartRebuildRequest(read_model=read_model(UNDEFINED)),
                metadata=PLATFORM,
            ),
            "read_model",
            "99 is not a value of ReadModel",
        ),
        (
            "status of an undefined read model",
            lambda: projections.GetRebuildStatus(
                projections_pb2.GetRebuildStatusRequest(read_model=read_model(UNDEFINED)),
                metadata=PLATFORM,
            ),
            "read_model",
            "99 is not a value of ReadModel",
        ),
        (
            "content hash without read model",
            lambda: projections.GetContentHash(
                projections_pb2.GetContentHashRequest(), metadata=PLATFORM
            ),
            "read_model",
            "is required",
        ),
    ]
    mismatches = []
    for what, call, field, words in cases:
        code, fields = await refusal(call)
        if code != grpc.StatusCode.INVALID_ARGUMENT or words not in fields.get(field, ""):
            mismatches.append((what, code.name, fields))
    assert not mismatches, mismatches
    listed = await goals.ListGoals(goals_pb2.ListGoalsRequest(owner_id="owner-1"), metadata=hr)
    assert list(listed.goals) == [], "a refused command stored a goal"


async def test_unset_enums_with_a_default_take_it(tenant_system: RunningSystem) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    goals = tenant_system.goals_stub
    created = (await goals.CreateGoal(goal_request(), metadata=hr)).goal
    assert (created.level, created.visibility, created.metric.direction) == (
        goals_pb2.GOAL_LEVEL_PERSONAL,
        goals_pb2.GOAL_VISIBILITY_PUBLIC,
        goals_pb2.METRIC_DIRECTION_INCREASE,
    )
    assert (created.lifecycle, created.status) == (
        goals_pb2.GOAL_LIFECYCLE_DRAFT,
        goals_pb2.GOAL_STATUS_NOT_STARTED,
    )
    from_template = await goals.CreateGoalsFromTemplate(template_request(), metadata=hr)
    made = from_template.created[0].goal
    assert (made.level, made.visibility) == (
        goals_pb2.GOAL_LEVEL_PERSONAL,
        goals_pb2.GOAL_VISIBILITY_PUBLIC,
    )
    person = await tenant_system.directory_stub.UpsertPerson(person_request(0), metadata=hr)
    assert person.person.employment_status == directory_pb2.EMPLOYMENT_STATUS_ACTIVE

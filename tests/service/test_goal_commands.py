"""Every command on one goal, at service level: who may send it (role x command), and how bad
input is refused (status code, the request field it names, the reason), storing nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import grpc
import pytest
from google.protobuf.message import Message

from northstar.goals.v1 import goals_pb2 as pb
from tests.service.conftest import ACME_KPI, HR, GoalsService, caller

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION

CALLERS = {
    "owner": caller("owner-1", "employee"),
    "teammate": caller("owner-2", "employee"),
    "manager": caller("manager-1", "manager"),
    "other manager": caller("hr-1", "manager"),
    "hr admin": HR,
    "auditor": caller("auditor-1", "auditor"),
    "integration": caller("hris-sync", "integration"),
}
CHANGERS = {"owner", "manager", "hr admin", "integration"}


def metric(start: float, target: float) -> pb.Metric:
    return pb.Metric(kind=pb.METRIC_KIND_NUMBER, start=start, target=target)


Prepared = tuple[str, Message]
Setup = Callable[[GoalsService, pb.Goal], Awaitable[Prepared]]


def simple(rpc: str, **fields: object) -> Setup:
    async def prepare(service: GoalsService, goal: pb.Goal) -> Prepared:
        return rpc, getattr(pb, f"{rpc}Request")(goal_id=goal.id, **fields)

    return prepare


async def with_key_result(service: GoalsService, goal: pb.Goal) -> Prepared:
    added = await service.call(
        "AddKeyResult", pb.AddKeyResultRequest(goal_id=goal.id, title="Docs", metric=metric(0, 3))
    )
    request = pb.RemoveKeyResultRequest(
        goal_id=goal.id, key_result_id=added.goal.key_results[0].id, reason="out of scope"
    )
    return "RemoveKeyResult", request


async def key_result_on_a_kpi(service: GoalsService, goal: pb.Goal) -> Prepared:
    added = await service.call(
        "AddKeyResult", pb.AddKeyResultRequest(goal_id=goal.id, title="Docs", metric=metric(0, 3))
    )
    request = pb.ChangeKeyResultProgressSourceRequest(
        goal_id=goal.id,
        key_result_id=added.goal.key_results[0].id,
        progress_source=pb.PROGRESS_SOURCE_KPI,
        kpi_id=str(ACME_KPI),
        reason="the docs site counts its pages",
    )
    return "ChangeKeyResultProgressSource", request


async def completed(rpc: str, service: GoalsService, goal: pb.Goal) -> Prepared:
    await service.call("CompleteGoal", pb.CompleteGoalRequest(goal_id=goal.id))
    request = getattr(pb, f"{rpc}Request")(goal_id=goal.id)
    if rpc == "ReopenGoal":
        request.reason = "more to do"
    return rpc, request


async def under_a_parent(service: GoalsService, goal: pb.Goal) -> Prepared:
    parent = await service.new_goal(title="Delight every customer")
    return "AlignGoal", pb.AlignGoalRequest(goal_id=goal.id, parent_goal_id=parent.id)


async def contributing(service: GoalsService, goal: pb.Goal) -> Prepared:
    target = await service.new_goal(title="Delight every customer")
    link = pb.Contribution(goal_id=target.id, weight=2)
    return "SetContributions", pb.SetContributionsRequest(goal_id=goal.id, contributions=[link])


async def draft_activated(service: GoalsService, goal: pb.Goal) -> Prepared:
    draft = await service.new_goal(activate=False, visibility=goal.visibility)
    return "ActivateGoal", pb.ActivateGoalRequest(goal_id=draft.id)


COMMANDS: dict[str, Setup] = {
    "CheckIn": simple("CheckIn", value=10, confidence=0.7),
    "ChangeTarget": simple("ChangeTarget", new_target=120, reason="new budget"),
    "ChangeDueDate": simple("ChangeDueDate", new_due_date="2026-11-30", reason="earlier launch"),
    "ActivateGoal": draft_activated,
    "CompleteGoal": simple("CompleteGoal"),
    "CancelGoal": simple("CancelGoal", reason="merged"),
    "ArchiveGoal": lambda service, goal: completed("ArchiveGoal", service, goal),
    "ReopenGoal": lambda service, goal: completed("ReopenGoal", service, goal),
    "AddKeyResult": simple("AddKeyResult", title="Docs", metric=metric(0, 3)),
    "AlignGoal": under_a_parent,
    "SetContributions": contributing,
    "RenameGoal": simple("RenameGoal", title="Answer every ticket within four hours"),
    "DescribeGoal": simple("DescribeGoal", description="Median under four hours."),
    "ChangeGoalVisibility": simple("ChangeGoalVisibility", visibility=pb.GOAL_VISIBILITY_TEAM),
    "ChangeMetric": simple(
        "ChangeMetric",
        metric=pb.Metric(kind=pb.METRIC_KIND_PERCENTAGE, start=0, target=95),
        reason="the share answered in time",
    ),
    "RemoveKeyResult": with_key_result,
    "ChangeProgressSource": simple(
        "ChangeProgressSource",
        progress_source=pb.PROGRESS_SOURCE_CHILDREN,
        reason="the team's goals say it better",
    ),
    "ChangeKeyResultProgressSource": key_result_on_a_kpi,
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("visibility", ["public", "private"])
async def test_the_owner_their_managers_hr_and_integrations_may_change_a_goal_and_no_one_else(
    goals_service: GoalsService, command: str, visibility: str
) -> None:
    answers = {}
    for name, as_caller in CALLERS.items():
        goal = await goals_service.new_goal(
            visibility=pb.GOAL_VISIBILITY_PUBLIC
            if visibility == "public"
            else pb.GOAL_VISIBILITY_PRIVATE
        )
        rpc, request = await COMMANDS[command](goals_service, goal)
        answers[name] = (await goals_service.status_of(rpc, request, as_caller)).code
    unseen = {"teammate", "other manager"} if visibility == "private" else set()
    assert answers == {
        name: OK if name in CHANGERS else NOT_FOUND if name in unseen else DENIED
        for name in CALLERS
    }


async def test_a_goal_of_another_tenant_is_not_found_for_every_command(
    goals_service: GoalsService,
) -> None:
    globex_hr = caller("globex-hr", "hr_admin", tenant_id="globex")
    answers = {}
    for command, setup in COMMANDS.items():
        rpc, request = await setup(goals_service, await goals_service.new_goal())
        answers[command] = (await goals_service.status_of(rpc, request, globex_hr)).code
    assert answers == dict.fromkeys(COMMANDS, NOT_FOUND)


async def test_bad_input_to_each_goal_command_names_its_field_and_stores_nothing(
    goals_service: GoalsService,
) -> None:
    service = goals_service
    active = (await service.new_goal()).id
    cancelled = (await service.new_goal()).id
    await service.call("CancelGoal", pb.CancelGoalRequest(goal_id=cancelled, reason="merged"))
    added = await service.call(
        "AddKeyResult", pb.AddKeyResultRequest(goal_id=active, title="Docs", metric=metric(0, 3))
    )
    key_result = added.goal.key_results[0].id
    fed = await service.call(
        "AddKeyResult",
        add_key_result(active, progress_source=pb.PROGRESS_SOURCE_KPI, kpi_id=str(ACME_KPI)),
    )
    kpi_driven = fed.goal.key_results[1].id
    missing = str(uuid.uuid4())
    cases: list[tuple[str, Message, grpc.StatusCode, str, str]] = [
        ("RenameGoal", pb.RenameGoalRequest(goal_id=active, title=" "), INVALID, "title",
         "must not be blank"),
        ("RenameGoal", pb.RenameGoalRequest(goal_id=active, title="x" * 201), INVALID, "title",
         "must be at most 200 characters"),
        ("RenameGoal", pb.RenameGoalRequest(goal_id=active, title="a\x07b"), INVALID, "title",
         "control character"),
        ("RenameGoal", pb.RenameGoalRequest(goal_id="g-1", title="x"), INVALID, "goal_id",
         "'g-1' is not a valid id"),
        ("RenameGoal", pb.RenameGoalRequest(goal_id=missing, title="x"), NOT_FOUND, "goal_id",
         "not found"),
        ("RenameGoal", pb.RenameGoalRequest(goal_id=cancelled, title="Merged"), PRECONDITION,
         "status", "a cancelled goal cannot be renamed; reopen it first"),
        ("RenameGoal", pb.RenameGoalRequest(goal_id=active, title="x", expected_version=-1),
         INVALID, "expected_version", "must not be negative"),
        ("RenameGoal", pb.RenameGoalRequest(goal_id=active, title="x", request_id="a b"),
         INVALID, "request_id", "visible ASCII"),
        ("DescribeGoal", pb.DescribeGoalRequest(goal_id=active, description="x" * 4001),
         INVALID, "description", "must be at most 4000 characters"),
        ("DescribeGoal", pb.DescribeGoalRequest(goal_id=cancelled, description="x"),
         PRECONDITION, "status", "a cancelled goal cannot be described; reopen it first"),
        ("ChangeGoalVisibility", pb.ChangeGoalVisibilityRequest(goal_id=active), INVALID,
         "visibility", "is required: one of GOAL_VISIBILITY_PUBLIC, GOAL_VISIBILITY_TEAM, "
         "GOAL_VISIBILITY_PRIVATE"),
        ("ChangeGoalVisibility",
         pb.ChangeGoalVisibilityRequest(goal_id=active, visibility=99),  # type: ignore[arg-type]
         INVALID, "visibility", "99 is not a value of GoalVisibility"),
        ("ChangeMetric", pb.ChangeMetricRequest(goal_id=active, reason="x"), INVALID, "metric",
         "is required"),
        ("ChangeMetric", pb.ChangeMetricRequest(goal_id=active, metric=metric(0, 9)), INVALID,
         "reason", "must not be blank"),
        ("ChangeMetric", pb.ChangeMetricRequest(goal_id=active, metric=metric(4, 4), reason="x"),
         INVALID, "metric.target", "target equals start: progress cannot be measured"),
        ("ChangeMetric",
         pb.ChangeMetricRequest(goal_id=active, metric=pb.Metric(start=0, target=1), reason="x"),
         INVALID, "metric.kind", "is required"),
        ("ChangeMetric",
         pb.ChangeMetricRequest(goal_id=active, metric=metric(0, float("nan")), reason="x"),
         INVALID, "metric.target", "must be a finite number"),
        ("ChangeMetric",
         pb.ChangeMetricRequest(goal_id=cancelled, metric=metric(0, 9), reason="x"),
         PRECONDITION, "status",
         "a cancelled goal cannot be measured differently; reopen it first"),
        ("RemoveKeyResult",
         pb.RemoveKeyResultRequest(goal_id=active, key_result_id="kr-1", reason="x"), INVALID,
         "key_result_id", "'kr-1' is not a valid id"),
        ("RemoveKeyResult", pb.RemoveKeyResultRequest(goal_id=active, reason="x"), INVALID,
         "key_result_id", "is required"),
        ("RemoveKeyResult",
         pb.RemoveKeyResultRequest(goal_id=active, key_result_id=missing, reason="x"),
         NOT_FOUND, "key_result_id", "not found on this goal"),
        ("RemoveKeyResult", pb.RemoveKeyResultRequest(goal_id=active, key_result_id=key_result),
         INVALID, "reason", "must not be blank"),
        ("ChangeTarget", pb.ChangeTargetRequest(goal_id=active, new_target=4), INVALID,
         "reason", "must not be blank"),
        ("AddKeyResult", add_key_result(active, progress_source=pb.PROGRESS_SOURCE_CHILDREN),
         INVALID, "progress_source", "a key result is measured by one of metric, kpi"),
        ("AddKeyResult", add_key_result(active, progress_source=pb.PROGRESS_SOURCE_KPI),
         INVALID, "kpi_id", "needs the KPI's id"),
        ("AddKeyResult", add_key_result(active, kpi_id=str(ACME_KPI)), INVALID, "kpi_id",
         "only a key result measured by a KPI names one"),
        ("AddKeyResult",
         add_key_result(active, progress_source=pb.PROGRESS_SOURCE_KPI, kpi_id="k-1"), INVALID,
         "kpi_id", "'k-1' is not a valid id"),
        ("AddKeyResult",
         add_key_result(active, progress_source=pb.PROGRESS_SOURCE_KPI, kpi_id=missing),
         PRECONDITION, "kpi_id", "is not known in this tenant"),
        ("AddKeyResult",
         add_key_result(active, progress_source=99),  # type: ignore[arg-type]
         INVALID, "progress_source", "99 is not a value of ProgressSource"),
        ("ChangeKeyResultProgressSource",
         kr_source(active, key_result, pb.PROGRESS_SOURCE_UNSPECIFIED), INVALID,
         "progress_source", "is required"),
        ("ChangeKeyResultProgressSource",
         kr_source(active, key_result, pb.PROGRESS_SOURCE_KEY_RESULTS), INVALID,
         "progress_source", "a key result is measured by one of metric, kpi"),
        ("ChangeKeyResultProgressSource", kr_source(active, key_result, pb.PROGRESS_SOURCE_KPI),
         INVALID, "kpi_id", "needs the KPI's id"),
        ("ChangeKeyResultProgressSource",
         kr_source(active, key_result, pb.PROGRESS_SOURCE_METRIC, kpi_id=str(ACME_KPI)),
         INVALID, "kpi_id", "only a key result measured by a KPI names one"),
        ("ChangeKeyResultProgressSource",
         kr_source(active, key_result, pb.PROGRESS_SOURCE_KPI, kpi_id=missing), PRECONDITION,
         "kpi_id", "is not known in this tenant"),
        ("ChangeKeyResultProgressSource",
         kr_source(active, key_result, pb.PROGRESS_SOURCE_KPI, kpi_id=str(ACME_KPI), reason=""),
         INVALID, "reason", "must not be blank"),
        ("ChangeKeyResultProgressSource",
         kr_source(active, "kr-1", pb.PROGRESS_SOURCE_METRIC), INVALID, "key_result_id",
         "'kr-1' is not a valid id"),
        ("ChangeKeyResultProgressSource", kr_source(active, missing, pb.PROGRESS_SOURCE_METRIC),
         NOT_FOUND, "key_result_id", "not found on this goal"),
        ("ChangeKeyResultProgressSource",
         kr_source(cancelled, missing, pb.PROGRESS_SOURCE_METRIC), PRECONDITION, "status",
         "a cancelled goal cannot be changed; reopen it first"),
        ("CheckIn",
         pb.CheckInRequest(goal_id=active, key_result_id=kpi_driven, value=2, confidence=0.5),
         PRECONDITION, "value", f"comes from KPI {ACME_KPI}"),
        ("ChangeDueDate",
         pb.ChangeDueDateRequest(goal_id=active, new_due_date="2026-07-01"), INVALID, "reason",
         "must not be blank"),
    ]  # fmt: skip
    unexpected = {}
    for rpc, request, code, field, reason in cases:
        failure = await service.status_of(rpc, request)
        if (failure.code, failure.field) != (code, field) or reason not in failure.reason:
            unexpected[rpc, str(request)] = failure
    assert unexpected == {}


def add_key_result(
    goal_id: str,
    progress_source: pb.ProgressSource.ValueType = pb.PROGRESS_SOURCE_UNSPECIFIED,
    kpi_id: str = "",
) -> pb.AddKeyResultRequest:
    return pb.AddKeyResultRequest(
        goal_id=goal_id,
        title="Pages",
        metric=metric(0, 40),
        progress_source=progress_source,
        kpi_id=kpi_id,
    )


def kr_source(
    goal_id: str,
    key_result_id: str,
    source: pb.ProgressSource.ValueType,
    kpi_id: str = "",
    reason: str = "the docs site counts its pages",
) -> pb.ChangeKeyResultProgressSourceRequest:
    return pb.ChangeKeyResultProgressSourceRequest(
        goal_id=goal_id,
        key_result_id=key_result_id,
        progress_source=source,
        kpi_id=kpi_id,
        reason=reason,
    )


async def test_a_changed_metric_keeps_the_old_one_in_history_and_restarts_from_its_start(
    goals_service: GoalsService,
) -> None:
    goal = await goals_service.new_goal()
    await goals_service.call(
        "CheckIn", pb.CheckInRequest(goal_id=goal.id, value=40, confidence=0.8)
    )
    changed = await goals_service.call(
        "ChangeMetric",
        pb.ChangeMetricRequest(
            goal_id=goal.id,
            metric=pb.Metric(kind=pb.METRIC_KIND_PERCENTAGE, start=50, target=90, unit="%"),
            reason="share of tickets, not a count",
        ),
    )
    assert (changed.goal.metric.kind, changed.goal.metric.start, changed.goal.metric.target) == (
        pb.METRIC_KIND_PERCENTAGE,
        50,
        90,
    )
    assert (changed.goal.has_current, changed.goal.progress) == (False, 0.0)
    again = await goals_service.status_of(
        "ChangeMetric",
        pb.ChangeMetricRequest(
            goal_id=goal.id,
            metric=pb.Metric(kind=pb.METRIC_KIND_PERCENTAGE, start=50, target=90, unit="%"),
            reason="the same metric again",
        ),
    )
    assert again.code == OK
    events = list(goals_service.app.events.get(uuid.UUID(goal.id)))
    last = events[-1]
    assert type(last).__name__ == "MetricChanged"
    assert last.previous_metric["current"] == 40  # type: ignore[attr-defined]
    assert last.reason == "share of tickets, not a count"  # type: ignore[attr-defined]
    assert len(events) == changed.version  # the same metric again recorded nothing


async def test_a_role_that_may_not_change_goals_is_refused_in_plain_words(
    goals_service: GoalsService,
) -> None:
    goal = await goals_service.new_goal()
    request = pb.CheckInRequest(goal_id=goal.id, value=10, confidence=0.7)
    refused = await goals_service.status_of("CheckIn", request, CALLERS["auditor"])
    assert (refused.code, refused.reason) == (DENIED, "the role auditor may not change goals")

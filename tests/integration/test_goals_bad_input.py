"""Bad input over gRPC gets a precise error naming the request field and saying what is wrong,
and stores nothing. The full matrix of the newer goal commands lives at service level
(tests/service/test_goal_commands.py); here each status code is seen end to end."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from northstar.goals.v1 import goals_pb2 as pb
from services.goals.queries import GoalFilter, encode_page_token
from services.shared.grpc_server import error_details
from tests.integration.conftest import RunningSystem

pytestmark = [pytest.mark.kafka]

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
NOT_FOUND = grpc.StatusCode.NOT_FOUND
NAN, INFINITY = float("nan"), float("inf")


class AsCaller:
    """A stub whose every call carries one caller's token."""

    def __init__(self, stub: Any, metadata: Any) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, rpc: str) -> Callable[..., Any]:
        return functools.partial(getattr(self._stub, rpc), metadata=self._metadata)


def goal_request(**overrides: Any) -> pb.CreateGoalRequest:
    request = pb.CreateGoalRequest(
        title="Cut onboarding to five days",
        owner_id="owner-1",
        team_id="team-a",
        start_date="2026-01-01",
        due_date="2026-06-30",
        metric=pb.Metric(
            kind=pb.METRIC_KIND_NUMBER, start=10, target=5, direction=pb.METRIC_DIRECTION_DECREASE
        ),
        activate=True,
    )
    for name, value in overrides.items():
        if isinstance(value, pb.Metric):
            request.metric.CopyFrom(value)
        else:
            setattr(request, name, value)
    return request


def numbers(start: float, target: float) -> pb.Metric:
    return pb.Metric(
        kind=pb.METRIC_KIND_NUMBER,
        start=start,
        target=target,
        direction=pb.METRIC_DIRECTION_INCREASE,
    )


def template_request(*owner_ids: str) -> pb.CreateGoalsFromTemplateRequest:
    return pb.CreateGoalsFromTemplateRequest(
        template=pb.GoalTemplate(title="Finish the security training", start_date="2026-01-01"),
        owner_ids=list(owner_ids),
    )


async def test_every_kind_of_bad_input_names_its_field_and_stores_nothing(
    tenant_system: RunningSystem,
) -> None:
    stub = AsCaller(tenant_system.goals_stub, tenant_system.bearer("hr-1", ["hr_admin"]))
    active = (await stub.CreateGoal(goal_request())).goal.id
    draft = (await stub.CreateGoal(goal_request(activate=False))).goal.id
    cancelled = (await stub.CreateGoal(goal_request())).goal.id
    await stub.CancelGoal(pb.CancelGoalRequest(goal_id=cancelled, reason="merged"))
    elsewhere = (
        await tenant_system.goals_stub.CreateGoal(
            goal_request(owner_id="globex-owner", team_id="globex-team"),
            metadata=tenant_system.bearer("globex-hr", ["hr_admin"], "globex"),
        )
    ).goal.id

    def links(*weights: float) -> pb.SetContributionsRequest:
        targets = (draft, cancelled)
        return pb.SetContributionsRequest(
            goal_id=active,
            contributions=[
                pb.Contribution(goal_id=t, weight=w) for t, w in zip(targets, weights, strict=False)
            ],
        )

    def key_result(weight: float) -> pb.AddKeyResultRequest:
        return pb.AddKeyResultRequest(
            goal_id=active, title="Docs", metric=numbers(0, 3), weight=weight
        )

    docs = await stub.AddKeyResult(key_result(1))
    docs_id = docs.goal.key_results[0].id
    owner_2_token = encode_page_token(active, GoalFilter(owner_id="owner-2"))
    cases: list[tuple[str, Callable[[], Awaitable[Any]], grpc.StatusCode, str, str]] = [
        (
            "empty title",
            lambda: stub.CreateGoal(goal_request(title="")),
            INVALID,
            "title",
            "must not be blank",
        ),
        (
            "blank title",
            lambda: stub.CreateGoal(goal_request(title="   ")),
            INVALID,
            "title",
            "must not be blank",
        ),
        (
            "NaN start",
            lambda: stub.CreateGoal(goal_request(metric=numbers(NAN, 5))),
            INVALID,
            "metric.start",
            "must be a finite number (not NaN or infinite)",
        ),
        (
            "infinite target",
            lambda: stub.CreateGoal(goal_request(metric=numbers(0, INFINITY))),
            INVALID,
            "metric.target",
            "must be a finite number (not NaN or infinite)",
        ),
        (
            "start equals target",
            lambda: stub.CreateGoal(goal_request(metric=numbers(5, 5))),
            INVALID,
            "metric.target",
            "target equals start: progress cannot be measured",
        ),
        (
            "due before start",
            lambda: stub.CreateGoal(goal_request(due_date="2025-12-31")),
            INVALID,
            "due_date",
            "due date is before the start date",
        ),
        (
            "unknown owner",
            lambda: stub.CreateGoal(goal_request(owner_id="nobody")),
            PRECONDITION,
            "owner_id",
            "no person 'nobody' in the directory",
        ),
        (
            "another tenant's person",
            lambda: stub.CreateGoal(goal_request(owner_id="globex-hr")),
            PRECONDITION,
            "owner_id",
            "no person 'globex-hr' in the directory",
        ),
        (
            "unknown team",
            lambda: stub.CreateGoal(goal_request(team_id="team-zzz")),
            PRECONDITION,
            "team_id",
            "no team 'team-zzz' in the directory",
        ),
        (
            "parent in another tenant",
            lambda: stub.CreateGoal(goal_request(parent_goal_id=elsewhere)),
            PRECONDITION,
            "parent_goal_id",
            "does not exist",
        ),
        (
            "NaN check-in",
            lambda: stub.CheckIn(pb.CheckInRequest(goal_id=active, value=NAN)),
            INVALID,
            "value",
            "must be a finite number (not NaN or infinite)",
        ),
        (
            "infinite confidence",
            lambda: stub.CheckIn(pb.CheckInRequest(goal_id=active, value=8, confidence=INFINITY)),
            INVALID,
            "confidence",
            "must be a finite number (not NaN or infinite)",
        ),
        (
            "negative weight",
            lambda: stub.SetContributions(links(-1.0)),
            INVALID,
            "contributions[0].weight",
            "must be greater than zero",
        ),
        (
            "weights summing to zero",
            lambda: stub.SetContributions(links(0.0, 0.0)),
            INVALID,
            "contributions[0].weight",
            "must be greater than zero",
        ),
        (
            "negative key result weight",
            lambda: stub.AddKeyResult(key_result(-2)),
            INVALID,
            "weight",
            "must be greater than zero",
        ),
        (
            "zero key result weight",
            lambda: stub.AddKeyResult(key_result(0)),
            INVALID,
            "weight",
            "must be greater than zero",
        ),
        (
            "target change without reason",
            lambda: stub.ChangeTarget(pb.ChangeTargetRequest(goal_id=active, new_target=4)),
            INVALID,
            "reason",
            "must not be blank",
        ),
        (
            "target back at the start",
            lambda: stub.ChangeTarget(
                pb.ChangeTargetRequest(goal_id=active, new_target=10, reason="x")
            ),
            INVALID,
            "new_target",
            "target equals start: progress cannot be measured",
        ),
        (
            "due date before start",
            lambda: stub.ChangeDueDate(
                pb.ChangeDueDateRequest(goal_id=active, new_due_date="2025-01-01", reason="x")
            ),
            INVALID,
            "new_due_date",
            "due date is before the start date",
        ),
        (
            "archive an active goal",
            lambda: stub.ArchiveGoal(pb.ArchiveGoalRequest(goal_id=active)),
            PRECONDITION,
            "status",
            "cannot archive a goal that is active (only from completed, cancelled)",
        ),
        (
            "reopen an active goal",
            lambda: stub.ReopenGoal(pb.ReopenGoalRequest(goal_id=active, reason="x")),
            PRECONDITION,
            "status",
            "cannot reopen a goal that is active (only from completed, cancelled)",
        ),
        (
            "complete a draft",
            lambda: stub.CompleteGoal(pb.CompleteGoalRequest(goal_id=draft)),
            PRECONDITION,
            "status",
            "cannot complete a goal that is draft (only from active)",
        ),
        (
            "check in on a draft",
            lambda: stub.CheckIn(pb.CheckInRequest(goal_id=draft, value=8, confidence=0.5)),
            PRECONDITION,
            "status",
            "check-ins need an active goal; this one is draft",
        ),
        (
            "align under a cancelled goal",
            lambda: stub.AlignGoal(pb.AlignGoalRequest(goal_id=draft, parent_goal_id=cancelled)),
            PRECONDITION,
            "parent_goal_id",
            "is cancelled",
        ),
        (
            "reassign to nobody",
            lambda: stub.ReassignGoal(pb.ReassignGoalRequest(goal_id=active, owner_id="nobody")),
            PRECONDITION,
            "owner_id",
            "no person 'nobody' in the directory",
        ),
        (
            "cascade a personal goal",
            lambda: stub.CascadeGoal(pb.CascadeGoalRequest(goal_id=active)),
            PRECONDITION,
            "goal_id",
            "only team goals cascade to members; this is a personal goal",
        ),
        (
            "roll over a one-off goal",
            lambda: stub.RollOverGoal(pb.RollOverGoalRequest(goal_id=active)),
            PRECONDITION,
            "recurring",
            "the goal is not recurring",
        ),
        (
            "a person twice",
            lambda: stub.CreateGoalsFromTemplate(template_request("owner-1", "owner-1")),
            INVALID,
            "owner_ids[1]",
            "owner-1 is listed twice",
        ),
        (
            "one unknown person among many",
            lambda: stub.CreateGoalsFromTemplate(template_request("owner-1", "nobody")),
            PRECONDITION,
            "owner_ids[1]",
            "no person 'nobody' in the directory",
        ),
        (
            "rename a missing goal",
            lambda: stub.RenameGoal(pb.RenameGoalRequest(goal_id=str(uuid.uuid4()), title="x")),
            NOT_FOUND,
            "goal_id",
            "not found",
        ),
        (
            "visibility not set",
            lambda: stub.ChangeGoalVisibility(pb.ChangeGoalVisibilityRequest(goal_id=active)),
            INVALID,
            "visibility",
            "is required: one of GOAL_VISIBILITY_PUBLIC, GOAL_VISIBILITY_TEAM",
        ),
        (
            "metric change on a cancelled goal",
            lambda: stub.ChangeMetric(
                pb.ChangeMetricRequest(goal_id=cancelled, metric=numbers(0, 9), reason="x")
            ),
            PRECONDITION,
            "status",
            "a cancelled goal cannot be measured differently; reopen it first",
        ),
        (
            "remove a key result the goal lacks",
            lambda: stub.RemoveKeyResult(
                pb.RemoveKeyResultRequest(
                    goal_id=active, key_result_id=str(uuid.uuid4()), reason="x"
                )
            ),
            NOT_FOUND,
            "key_result_id",
            "not found on this goal",
        ),
        (
            "a key result driven by its goal's children",
            lambda: stub.ChangeKeyResultProgressSource(
                pb.ChangeKeyResultProgressSourceRequest(
                    goal_id=active,
                    key_result_id=docs_id,
                    progress_source=pb.PROGRESS_SOURCE_CHILDREN,
                    reason="x",
                )
            ),
            INVALID,
            "progress_source",
            "a key result is measured by one of metric, kpi",
        ),
        (
            "a key result on a KPI the goals service does not know",
            lambda: stub.AddKeyResult(
                pb.AddKeyResultRequest(
                    goal_id=active,
                    title="Leads",
                    metric=numbers(0, 9),
                    progress_source=pb.PROGRESS_SOURCE_KPI,
                    kpi_id=str(uuid.uuid4()),
                )
            ),
            PRECONDITION,
            "kpi_id",
            "is not known in this tenant",
        ),
        (
            "malformed page token",
            lambda: stub.ListGoals(pb.ListGoalsRequest(page_token="abc")),
            INVALID,
            "page_token",
            "is not a well-formed page token",
        ),
        (
            "page token of other filters",
            lambda: stub.ListGoals(pb.ListGoalsRequest(page_token=owner_2_token)),
            INVALID,
            "page_token",
            "was issued for other filters",
        ),
    ]
    for name, call, code, field, reason in cases:
        before = tenant_system.goals.app.recorder.max_notification_id()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call()
        assert caught.value.code() == code, (name, caught.value.details())
        details = error_details(caught.value)
        assert set(details) == {field}, (name, details)
        assert reason in details[field], (name, details)
        assert tenant_system.goals.app.recorder.max_notification_id() == before, name

"""Who may do what with goals, over gRPC with real tokens and the directory on real Kafka:
role x action, authentication failures, tenant isolation, reporting-line moves seen without a
restart, and departures flagging goals for reassignment."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import jwt
import pytest

from northstar.directory.v1 import directory_pb2
from northstar.goals.v1 import goals_pb2 as pb
from services.shared.auth import DEFAULT_DEV_SECRET, mint_dev_token
from tests.integration.conftest import RunningSystem

pytestmark = [pytest.mark.kafka]

Metadata = tuple[tuple[str, str], ...]
# caller -> (subject, roles) of their token in the test's tenant
CALLERS: dict[str, tuple[str, list[str]]] = {
    "owner": ("owner-1", ["employee"]),
    "teammate": ("owner-2", ["employee"]),
    "manager": ("manager-1", ["manager"]),
    "other manager": ("hr-1", ["manager"]),
    "hr admin": ("hr-1", ["hr_admin"]),
    "auditor": ("auditor-1", ["auditor"]),
    "integration": ("hris-sync", ["integration"]),
}
EVERYONE = frozenset(CALLERS)
CHANGERS = frozenset({"owner", "manager", "hr admin", "integration"})
OK, HIDDEN, DENIED = (
    grpc.StatusCode.OK,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
)
# action -> the callers allowed to do it.
ALLOWED = {
    "view a public goal": EVERYONE,
    "view a team goal": EVERYONE - {"other manager"},
    "view a private goal": EVERYONE - {"teammate", "other manager"},
    "check in": CHANGERS,
    "check in on a private goal": CHANGERS,
    "change the target": CHANGERS,
    "rename": CHANGERS,
    "describe": CHANGERS,
    "change the visibility": CHANGERS,
    "change the metric": CHANGERS,
    "remove a key result": CHANGERS,
    "change a key result's progress source": CHANGERS,
    "create a goal for owner-1": CHANGERS,
    "set a strategic objective": frozenset({"hr admin", "integration"}),
    "set a company goal": frozenset({"manager", "other manager", "hr admin", "integration"}),
    "cascade the team goal": frozenset({"manager", "hr admin", "integration"}),
}
# action -> the callers who may not even see the goal: they hear NOT_FOUND, as for a missing
# goal; every other refusal is PERMISSION_DENIED.
CANNOT_SEE = {
    "view a team goal": {"other manager"},
    "view a private goal": {"teammate", "other manager"},
    "check in on a private goal": {"teammate", "other manager"},
}


def expected_code(action: str, caller: str) -> grpc.StatusCode:
    if caller in ALLOWED[action]:
        return OK
    return HIDDEN if caller in CANNOT_SEE.get(action, ()) else DENIED


def token(system: RunningSystem, caller: str) -> Metadata:
    """The token of `caller` (a key of CALLERS) in the test's own tenant."""
    return system.bearer(*CALLERS[caller])


def hr(system: RunningSystem) -> Metadata:
    return token(system, "hr admin")


def goal_request(**overrides: Any) -> pb.CreateGoalRequest:
    request = pb.CreateGoalRequest(
        title="Answer every ticket within a day",
        description="Median first response under 24 hours.",
        owner_id="owner-1",
        level=pb.GOAL_LEVEL_PERSONAL,
        start_date="2026-01-01",
        due_date="2026-12-31",
        metric=pb.Metric(
            kind=pb.METRIC_KIND_NUMBER, start=0, target=100, direction=pb.METRIC_DIRECTION_INCREASE
        ),
        activate=True,
    )
    for name, value in overrides.items():
        setattr(request, name, value)
    return request


async def prepare(
    system: RunningSystem, action: str, caller: Metadata
) -> Callable[[], Awaitable[Any]]:
    """Sets up what `action` needs (goals made by HR) and returns the call `caller` makes."""
    stub = system.goals_stub

    async def fresh(**overrides: Any) -> str:
        created = await stub.CreateGoal(goal_request(**overrides), metadata=hr(system))
        return str(created.goal.id)

    if action.startswith("view a "):
        visibility = action.removeprefix("view a ").removesuffix(" goal")
        goal_id = await fresh(
            visibility=pb.GoalVisibility.Value(f"GOAL_VISIBILITY_{visibility}".upper())
        )
        return lambda: stub.GetGoal(pb.GetGoalRequest(goal_id=goal_id), metadata=caller)
    if action.startswith("check in"):
        goal_id = await fresh(
            visibility=pb.GOAL_VISIBILITY_PRIVATE
            if "private" in action
            else pb.GOAL_VISIBILITY_PUBLIC
        )
        request = pb.CheckInRequest(goal_id=goal_id, value=10, confidence=0.7)
        return lambda: stub.CheckIn(request, metadata=caller)
    if action == "change the target":
        goal_id = await fresh()
        target = pb.ChangeTargetRequest(goal_id=goal_id, new_target=120, reason="new budget")
        return lambda: stub.ChangeTarget(target, metadata=caller)
    if action in ONE_GOAL_COMMANDS:
        goal_id = await fresh()
        return await ONE_GOAL_COMMANDS[action](system, goal_id, caller)
    if action == "cascade the team goal":
        goal_id = await fresh(level=pb.GOAL_LEVEL_TEAM, owner_id="manager-1", team_id="team-a")
        return lambda: _cascade(system, goal_id, caller)
    level = {
        "set a strategic objective": pb.GOAL_LEVEL_STRATEGY,
        "set a company goal": pb.GOAL_LEVEL_COMPANY,
    }
    if action in level:
        create = goal_request(level=level[action], owner_id="hr-1")
        return lambda: stub.CreateGoal(create, metadata=caller)
    assert action == "create a goal for owner-1", action
    return lambda: stub.CreateGoal(goal_request(), metadata=caller)


OneGoalCommand = Callable[[RunningSystem, str, Metadata], Awaitable[Callable[[], Awaitable[Any]]]]


async def _remove_key_result(
    system: RunningSystem, goal_id: str, caller: Metadata
) -> Callable[[], Awaitable[Any]]:
    stub = system.goals_stub
    added = await stub.AddKeyResult(
        pb.AddKeyResultRequest(
            goal_id=goal_id,
            title="Docs",
            metric=pb.Metric(kind=pb.METRIC_KIND_NUMBER, start=0, target=3),
        ),
        metadata=hr(system),
    )
    request = pb.RemoveKeyResultRequest(
        goal_id=goal_id, key_result_id=added.goal.key_results[0].id, reason="out of scope"
    )
    return lambda: stub.RemoveKeyResult(request, metadata=caller)


async def _change_key_result_source(
    system: RunningSystem, goal_id: str, caller: Metadata
) -> Callable[[], Awaitable[Any]]:
    stub = system.goals_stub
    added = await stub.AddKeyResult(
        pb.AddKeyResultRequest(
            goal_id=goal_id,
            title="Docs",
            metric=pb.Metric(kind=pb.METRIC_KIND_NUMBER, start=0, target=3),
        ),
        metadata=hr(system),
    )
    # Its own metric again (no KPI is known to this system): authorised or refused all the same.
    request = pb.ChangeKeyResultProgressSourceRequest(
        goal_id=goal_id,
        key_result_id=added.goal.key_results[0].id,
        progress_source=pb.PROGRESS_SOURCE_METRIC,
        reason="counted by hand",
    )
    return lambda: stub.ChangeKeyResultProgressSource(request, metadata=caller)


def _one_call(rpc: str, **fields: Any) -> OneGoalCommand:
    """A command on the goal, made by the caller (the goal is created by HR beforehand)."""

    async def prepared(
        system: RunningSystem, goal_id: str, caller: Metadata
    ) -> Callable[[], Awaitable[Any]]:
        request = getattr(pb, f"{rpc}Request")(goal_id=goal_id, **fields)
        return lambda: getattr(system.goals_stub, rpc)(request, metadata=caller)

    return prepared


ONE_GOAL_COMMANDS: dict[str, OneGoalCommand] = {
    "rename": _one_call("RenameGoal", title="Answer every ticket within four hours"),
    "describe": _one_call("DescribeGoal", description="Median under four hours."),
    "change the visibility": _one_call("ChangeGoalVisibility", visibility=pb.GOAL_VISIBILITY_TEAM),
    "change the metric": _one_call(
        "ChangeMetric",
        metric=pb.Metric(kind=pb.METRIC_KIND_PERCENTAGE, start=0, target=95),
        reason="measure the share answered in time",
    ),
    "remove a key result": _remove_key_result,
    "change a key result's progress source": _change_key_result_source,
}


async def attempt(system: RunningSystem, action: str, caller: str) -> grpc.StatusCode:
    """Runs `action` as `caller`; a refusal must store nothing at all."""
    call = await prepare(system, action, token(system, caller))
    before = system.goals.app.recorder.max_notification_id()
    code = await status_of(call())
    if code != OK:
        stored = system.goals.app.recorder.max_notification_id() != before
        assert not stored, (action, caller, code)
    return code


async def _cascade(system: RunningSystem, goal_id: str, caller: Metadata) -> None:
    response = await system.goals_stub.CascadeGoal(
        pb.CascadeGoalRequest(goal_id=goal_id), metadata=caller
    )
    assert sorted(c.goal.owner_id for c in response.created) == ["owner-1", "owner-2"]


async def test_each_role_may_do_exactly_what_the_policy_allows(
    tenant_system: RunningSystem,
) -> None:
    unexpected = {}
    for action in ALLOWED:
        for caller in CALLERS:
            code = await attempt(tenant_system, action, caller)
            if code != expected_code(action, caller):
                unexpected[action, caller] = code
    assert unexpected == {}


def tampered(token: str) -> str:
    """The same signature over claims that now say hr_admin."""
    header, _claims, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.utils.base64url_encode(json.dumps({**claims, "roles": ["hr_admin"]}).encode())
    return ".".join((header, forged.decode(), signature))


async def test_missing_expired_tampered_or_foreign_tokens_are_unauthenticated(
    tenant_system: RunningSystem,
) -> None:
    stub = tenant_system.goals_stub
    tenant = tenant_system.tenant_id()
    good = mint_dev_token(
        DEFAULT_DEV_SECRET, subject="owner-1", tenant_id=tenant, roles=["employee"]
    )
    tokens = {
        "expired": mint_dev_token(
            DEFAULT_DEV_SECRET,
            subject="hr-1",
            tenant_id=tenant,
            roles=["hr_admin"],
            ttl_seconds=-300,
        ),
        "tampered": tampered(good),
        "wrongly signed": mint_dev_token(
            "another-secret", subject="hr-1", tenant_id=tenant, roles=["hr_admin"]
        ),
    }
    before = tenant_system.goals.app.recorder.max_notification_id()
    attempts: list[Metadata] = [(), *((("authorization", f"Bearer {t}"),) for t in tokens.values())]
    for metadata in attempts:
        for call in (
            stub.CreateGoal(goal_request(), metadata=metadata),
            stub.ListGoals(pb.ListGoalsRequest(), metadata=metadata),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
    assert tenant_system.goals.app.recorder.max_notification_id() == before


async def test_no_query_or_command_reaches_another_tenants_goals(
    tenant_system: RunningSystem,
) -> None:
    stub = tenant_system.goals_stub
    acme_goal = await stub.CreateGoal(goal_request(team_id="team-a"), metadata=hr(tenant_system))
    globex = tenant_system.bearer("globex-hr", ["hr_admin"], "globex")
    own = await stub.CreateGoal(
        goal_request(owner_id="globex-owner", title="Open the Lisbon office"), metadata=globex
    )
    goal_id = acme_goal.goal.id
    for call in (
        stub.GetGoal(pb.GetGoalRequest(goal_id=goal_id), metadata=globex),
        stub.CheckIn(pb.CheckInRequest(goal_id=goal_id, value=1, confidence=1), metadata=globex),
        stub.CascadeGoal(pb.CascadeGoalRequest(goal_id=goal_id), metadata=globex),
        stub.RollOverGoal(pb.RollOverGoalRequest(goal_id=goal_id), metadata=globex),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await stub.ListGoals(pb.ListGoalsRequest(), metadata=globex)
    assert [goal.id for goal in listed.goals] == [own.goal.id]
    by_owner = await stub.ListGoals(pb.ListGoalsRequest(owner_id="owner-1"), metadata=globex)
    assert not by_owner.goals
    summary = await stub.SummariseSmart(pb.SummariseSmartRequest(), metadata=globex)
    assert [(team.team_id, team.goal_count) for team in summary.teams] == [("globex-team", 1)]


async def poll_until(
    condition: Callable[[], Awaitable[bool]], *, within_seconds: float = 60, what: str
) -> None:
    """Polls an RPC-backed condition with a deadline (and a growing pause between tries)."""
    deadline = time.monotonic() + within_seconds
    pause = 0.01
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within_seconds:g}s")
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.2)


async def test_a_new_manager_and_team_change_permissions_without_a_restart(
    tenant_system: RunningSystem,
) -> None:
    system = tenant_system
    goals, directory = system.goals_stub, system.directory_stub
    goal = await goals.CreateGoal(goal_request(owner_id="owner-2"), metadata=hr(system))
    team_goal = await goals.CreateGoal(
        goal_request(owner_id="owner-1", visibility=pb.GOAL_VISIBILITY_TEAM, team_id="team-a"),
        metadata=hr(system),
    )
    manager_2 = system.bearer("manager-2", ["manager"])
    await directory.UpsertPerson(
        directory_pb2.UpsertPersonRequest(
            person_id="manager-2", name="Manager Two", email="m2@acme.example", team_id="team-b"
        ),
        metadata=hr(system),
    )
    await directory.UpsertPerson(
        directory_pb2.UpsertPersonRequest(
            person_id="owner-2",
            name="Owner-2",
            email="owner-2@acme.example",
            team_id="team-b",
            manager_id="manager-2",
        ),
        metadata=hr(system),
    )

    async def check_in_as(caller: Metadata) -> grpc.StatusCode:
        try:
            await goals.CheckIn(
                pb.CheckInRequest(goal_id=goal.goal.id, value=5, confidence=0.5), metadata=caller
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    async def new_manager_may_check_in() -> bool:
        return await check_in_as(manager_2) == grpc.StatusCode.OK

    await poll_until(new_manager_may_check_in, what="manager-2 gaining owner-2's goal")
    assert await check_in_as(token(system, "manager")) == grpc.StatusCode.PERMISSION_DENIED

    async def former_teammate_lost_sight_of_team_goal() -> bool:
        request = pb.GetGoalRequest(goal_id=team_goal.goal.id)
        call = goals.GetGoal(request, metadata=token(system, "teammate"))
        return await status_of(call) == grpc.StatusCode.NOT_FOUND

    await poll_until(former_teammate_lost_sight_of_team_goal, what="owner-2 leaving team-a")


async def status_of(call: Awaitable[Any]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_a_departure_flags_open_goals_for_the_manager_to_reassign(
    tenant_system: RunningSystem,
) -> None:
    system = tenant_system
    goals = system.goals_stub
    active = await goals.CreateGoal(goal_request(owner_id="owner-2"), metadata=hr(system))
    draft = await goals.CreateGoal(
        goal_request(owner_id="owner-2", activate=False), metadata=hr(system)
    )
    done = await goals.CreateGoal(goal_request(owner_id="owner-2"), metadata=hr(system))
    await goals.CompleteGoal(pb.CompleteGoalRequest(goal_id=done.goal.id), metadata=hr(system))
    await system.directory_stub.RecordDeparture(
        directory_pb2.RecordDepartureRequest(
            person_id="owner-2", leave_date="2026-03-31", reason="moved abroad"
        ),
        metadata=hr(system),
    )

    async def flagged(goal_id: str) -> pb.Goal:
        goal: pb.Goal = await goals.GetGoal(pb.GetGoalRequest(goal_id=goal_id), metadata=hr(system))
        return goal

    async def both_flagged() -> bool:
        states = [await flagged(g.goal.id) for g in (active, draft)]
        return all(goal.HasField("reassignment") for goal in states)

    await poll_until(both_flagged, what="owner-2's open goals being flagged")
    flag = (await flagged(active.goal.id)).reassignment
    assert (flag.departed_person_id, flag.manager_id, flag.leave_date) == (
        "owner-2",
        "manager-1",
        "2026-03-31",
    )
    assert not (await flagged(done.goal.id)).HasField("reassignment")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await goals.CreateGoal(goal_request(owner_id="owner-2"), metadata=hr(system))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    taken_over = await goals.ReassignGoal(
        pb.ReassignGoalRequest(goal_id=active.goal.id, owner_id="owner-1"),
        metadata=token(system, "manager"),
    )
    assert (taken_over.goal.owner_id, taken_over.goal.team_id) == ("owner-1", "team-a")
    assert not taken_over.goal.HasField("reassignment")

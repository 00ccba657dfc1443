"""The commands that create goals, at service level: CreateGoal, CascadeGoal,
CreateGoalsFromTemplate and RollOverGoal. Who may send each (role x command), and how bad input
is refused (status code, the request field it names, the reason), storing nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import grpc
import pytest
from google.protobuf.message import Message

from northstar.goals.v1 import goals_pb2 as pb
from tests.service.conftest import GoalsService, caller
from tests.service.test_goal_commands import CALLERS, DENIED, INVALID, NOT_FOUND, OK, PRECONDITION

Setup = Callable[[GoalsService, int], Awaitable[Message]]


def personal_goal(**fields: object) -> pb.CreateGoalRequest:
    request = pb.CreateGoalRequest(
        title="Answer every ticket within a day",
        owner_id="owner-1",
        start_date="2026-01-01",
        due_date="2026-03-31",
        metric=pb.Metric(kind=pb.METRIC_KIND_NUMBER, start=0, target=100),
        activate=True,
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return request


def template(**fields: object) -> pb.GoalTemplate:
    shared = pb.GoalTemplate(
        title="Complete security training",
        level=pb.GOAL_LEVEL_PERSONAL,
        start_date="2026-01-01",
        metric=pb.Metric(kind=pb.METRIC_KIND_BINARY, start=0, target=1),
    )
    for name, value in fields.items():
        setattr(shared, name, value)
    return shared


async def create_for_owner_1(service: GoalsService, visibility: int) -> Message:
    return personal_goal(visibility=visibility)


async def cascade_team_a_goal(service: GoalsService, visibility: int) -> Message:
    """A team goal of manager-1 for team-a (owner-1 and owner-2), cascaded to its members."""
    team_goal = await service.new_goal(
        owner_id="manager-1", team_id="team-a", level=pb.GOAL_LEVEL_TEAM, visibility=visibility
    )
    return pb.CascadeGoalRequest(goal_id=team_goal.id, activate=True)


async def template_for_owners_1_and_2(service: GoalsService, visibility: int) -> Message:
    return pb.CreateGoalsFromTemplateRequest(
        template=template(visibility=visibility), owner_ids=["owner-1", "owner-2"]
    )


async def roll_over_owner_1_goal(service: GoalsService, visibility: int) -> Message:
    recurring = await service.new_goal(recurring=True, visibility=visibility)
    return pb.RollOverGoalRequest(goal_id=recurring.id, activate=True)


COMMANDS: dict[str, tuple[Setup, set[str]]] = {
    "CreateGoal": (create_for_owner_1, {"owner", "manager", "hr admin", "integration"}),
    "CascadeGoal": (cascade_team_a_goal, {"manager", "hr admin", "integration"}),
    "CreateGoalsFromTemplate": (
        template_for_owners_1_and_2,
        {"manager", "hr admin", "integration"},
    ),
    "RollOverGoal": (roll_over_owner_1_goal, {"owner", "manager", "hr admin", "integration"}),
}
# Who may not see a private goal of the command (it is not found for them): owner-1's goals
# hide from their teammate and the manager of another team; manager-1's from the people below.
UNSEEN_WHEN_PRIVATE = {
    "CascadeGoal": {"owner", "teammate", "other manager"},
    "RollOverGoal": {"teammate", "other manager"},
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("visibility", ["public", "private"])
async def test_who_may_create_goals_by_command_and_role(
    goals_service: GoalsService, command: str, visibility: str
) -> None:
    setup, allowed = COMMANDS[command]
    shown = pb.GOAL_VISIBILITY_PUBLIC if visibility == "public" else pb.GOAL_VISIBILITY_PRIVATE
    answers = {}
    for name, as_caller in CALLERS.items():
        request = await setup(goals_service, shown)
        answers[name] = (await goals_service.status_of(command, request, as_caller)).code
    unseen = UNSEEN_WHEN_PRIVATE.get(command, set()) if visibility == "private" else set()
    assert answers == {
        name: OK if name in allowed else NOT_FOUND if name in unseen else DENIED for name in CALLERS
    }


async def test_strategic_and_company_goals_are_set_only_by_the_roles_allowed_to(
    goals_service: GoalsService,
) -> None:
    setters = {
        pb.GOAL_LEVEL_STRATEGY: {"hr admin", "integration"},
        pb.GOAL_LEVEL_COMPANY: {"manager", "other manager", "hr admin", "integration"},
    }
    for level, allowed in setters.items():
        answers = {}
        for name, as_caller in CALLERS.items():
            request = personal_goal(level=level, visibility=pb.GOAL_VISIBILITY_PUBLIC)
            answers[name] = (await goals_service.status_of("CreateGoal", request, as_caller)).code
        assert answers == {name: OK if name in allowed else DENIED for name in CALLERS}, level


async def test_a_refused_template_names_the_person_or_the_template_field_it_concerns(
    goals_service: GoalsService,
) -> None:
    for_two = pb.CreateGoalsFromTemplateRequest(
        template=template(), owner_ids=["owner-1", "owner-2"]
    )
    strategy = pb.CreateGoalsFromTemplateRequest(
        template=template(level=pb.GOAL_LEVEL_STRATEGY), owner_ids=["owner-1"]
    )
    answers = {
        "owner-2 by owner-1": await goals_service.status_of(
            "CreateGoalsFromTemplate", for_two, CALLERS["owner"]
        ),
        "strategy by a manager": await goals_service.status_of(
            "CreateGoalsFromTemplate", strategy, CALLERS["manager"]
        ),
    }
    assert {name: (failure.code, failure.field) for name, failure in answers.items()} == {
        "owner-2 by owner-1": (DENIED, "owner_ids[1]"),
        "strategy by a manager": (DENIED, "template.level"),
    }


async def test_rolling_over_also_needs_the_right_to_create_the_next_goal(
    goals_service: GoalsService,
) -> None:
    """owner-1 may change their own company goal but not set a new company goal."""
    answers = {}
    for name in ("owner", "manager"):
        company = await goals_service.new_goal(recurring=True, level=pb.GOAL_LEVEL_COMPANY)
        request = pb.RollOverGoalRequest(goal_id=company.id, activate=True)
        failure = await goals_service.status_of("RollOverGoal", request, CALLERS[name])
        answers[name] = (failure.code, failure.field)
    assert answers == {"owner": (DENIED, "level"), "manager": (OK, "")}


async def test_another_tenants_goal_is_not_found_to_cascade_or_roll_over(
    goals_service: GoalsService,
) -> None:
    globex_hr = caller("globex-hr", "hr_admin", tenant_id="globex")
    answers = {}
    for command in ("CascadeGoal", "RollOverGoal"):
        request = await COMMANDS[command][0](goals_service, pb.GOAL_VISIBILITY_PUBLIC)
        answers[command] = (await goals_service.status_of(command, request, globex_hr)).code
    assert answers == {"CascadeGoal": NOT_FOUND, "RollOverGoal": NOT_FOUND}


async def test_bad_input_to_each_creating_command_names_its_field_and_stores_nothing(
    goals_service: GoalsService,
) -> None:
    service = goals_service
    personal = (await service.new_goal()).id
    cancelled_team = (await service.new_goal(owner_id="manager-1", level=pb.GOAL_LEVEL_TEAM)).id
    await service.call("CancelGoal", pb.CancelGoalRequest(goal_id=cancelled_team, reason="x"))
    recurring = (await service.new_goal(recurring=True)).id
    missing = str(uuid.uuid4())
    cases: list[tuple[str, Message, grpc.StatusCode, str, str]] = [
        ("CreateGoal", personal_goal(title=" "), INVALID, "title", "must not be blank"),
        ("CreateGoal", personal_goal(level=99), INVALID, "level",
         "99 is not a value of GoalLevel"),
        ("CreateGoal", personal_goal(start_date="soon"), INVALID, "start_date", "date"),
        ("CreateGoal", personal_goal(due_date="2025-12-31"), INVALID, "due_date", "start"),
        ("CreateGoal", personal_goal(parent_goal_id="p-1"), INVALID, "parent_goal_id",
         "'p-1' is not a valid id"),
        ("CreateGoal", personal_goal(parent_goal_id=missing), PRECONDITION, "parent_goal_id",
         "does not exist"),
        ("CreateGoal", personal_goal(owner_id="nobody"), PRECONDITION, "owner_id", "nobody"),
        ("CreateGoal", personal_goal(request_id="a b"), INVALID, "request_id", "visible ASCII"),
        ("CascadeGoal", pb.CascadeGoalRequest(goal_id="g-1"), INVALID, "goal_id",
         "'g-1' is not a valid id"),
        ("CascadeGoal", pb.CascadeGoalRequest(goal_id=missing), NOT_FOUND, "goal_id",
         "not found"),
        ("CascadeGoal", pb.CascadeGoalRequest(goal_id=personal), PRECONDITION, "goal_id",
         "only team goals cascade to members; this is a personal goal"),
        ("CascadeGoal", pb.CascadeGoalRequest(goal_id=cancelled_team), PRECONDITION, "goal_id",
         "a cancelled team goal cannot be cascaded"),
        ("CreateGoalsFromTemplate", pb.CreateGoalsFromTemplateRequest(owner_ids=["owner-1"]),
         INVALID, "template", "is required"),
        ("CreateGoalsFromTemplate", pb.CreateGoalsFromTemplateRequest(template=template()),
         INVALID, "owner_ids", "name at least one person"),
        ("CreateGoalsFromTemplate",
         pb.CreateGoalsFromTemplateRequest(template=template(), owner_ids=["owner-1"] * 2),
         INVALID, "owner_ids[1]", "owner-1 is listed twice"),
        ("CreateGoalsFromTemplate",
         pb.CreateGoalsFromTemplateRequest(template=template(start_date="x"), owner_ids=["a"]),
         INVALID, "template.start_date", "date"),
        ("CreateGoalsFromTemplate",
         pb.CreateGoalsFromTemplateRequest(template=template(title=" "), owner_ids=["owner-1"]),
         INVALID, "template.title", "must not be blank"),
        ("CreateGoalsFromTemplate",
         pb.CreateGoalsFromTemplateRequest(
             template=template(due_date="2025-12-31"), owner_ids=["owner-1"]),
         INVALID, "template.due_date", "due date is before the start date"),
        ("CreateGoalsFromTemplate",
         pb.CreateGoalsFromTemplateRequest(
             template=template(parent_goal_id=missing), owner_ids=["owner-1"]),
         PRECONDITION, "template.parent_goal_id", "does not exist"),
        ("CreateGoalsFromTemplate",
         pb.CreateGoalsFromTemplateRequest(
             template=template(), owner_ids=["owner-1"], template_id="t-1"),
         INVALID, "template_id", "'t-1' is not a valid id"),
        ("CreateGoalsFromTemplate",
         pb.CreateGoalsFromTemplateRequest(template=template(), owner_ids=["owner-1", "nobody"]),
         PRECONDITION, "owner_ids[1]", "nobody"),
        ("RollOverGoal", pb.RollOverGoalRequest(goal_id="g-1"), INVALID, "goal_id",
         "'g-1' is not a valid id"),
        ("RollOverGoal", pb.RollOverGoalRequest(goal_id=missing), NOT_FOUND, "goal_id",
         "not found"),
        ("RollOverGoal", pb.RollOverGoalRequest(goal_id=personal), PRECONDITION, "recurring",
         "the goal is not recurring"),
        ("RollOverGoal", pb.RollOverGoalRequest(goal_id=recurring, expected_version=-1),
         INVALID, "expected_version", "must not be negative"),
        ("RollOverGoal", pb.RollOverGoalRequest(goal_id=recurring, parent_goal_id="p-1"),
         INVALID, "parent_goal_id", "'p-1' is not a valid id"),
        ("RollOverGoal", pb.RollOverGoalRequest(goal_id=recurring, expected_version=1),
         grpc.StatusCode.ABORTED, "expected_version", "reload and retry"),
    ]  # fmt: skip
    unexpected = {}
    for rpc, request, code, field, reason in cases:
        failure = await service.status_of(rpc, request)
        if (failure.code, failure.field) != (code, field) or reason not in failure.reason:
            unexpected[rpc, str(request)] = failure
    assert unexpected == {}

"""Commands that make several goals (cascade, templates, roll-over), the rest of the lifecycle,
SMART summaries per team, and ListGoals pages, over gRPC on real Kafka."""

from __future__ import annotations

import uuid

import grpc
import pytest

from northstar.directory.v1 import directory_pb2
from northstar.goals.v1 import goals_pb2 as pb
from services.shared.grpc_server import error_details
from tests.integration.conftest import RunningSystem

pytestmark = [pytest.mark.kafka]


def team_goal_request() -> pb.CreateGoalRequest:
    return pb.CreateGoalRequest(
        title="Resolve every customer escalation this quarter",
        description="Escalations closed within five working days.",
        owner_id="manager-1",
        team_id="team-a",
        level=pb.GOAL_LEVEL_TEAM,
        start_date="2026-01-01",
        due_date="2026-03-31",
        metric=pb.Metric(
            kind=pb.METRIC_KIND_NUMBER, start=0, target=30, direction=pb.METRIC_DIRECTION_INCREASE
        ),
        # Broken down into its members' goals, it rolls up from them, not its own check-ins.
        progress_source=pb.PROGRESS_SOURCE_CHILDREN,
        activate=True,
    )


async def test_cascade_gives_each_member_one_aligned_goal_and_repeats_only_for_newcomers(
    tenant_system: RunningSystem,
) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    manager = tenant_system.bearer("manager-1", ["manager"])
    system = tenant_system
    stub = system.goals_stub
    team_goal = await stub.CreateGoal(team_goal_request(), metadata=manager)
    first = await stub.CascadeGoal(
        pb.CascadeGoalRequest(goal_id=team_goal.goal.id, activate=True), metadata=manager
    )
    personal = {c.goal.owner_id: c.goal for c in first.created}
    assert sorted(personal) == ["owner-1", "owner-2"]
    for goal in personal.values():
        assert (goal.parent_goal_id, goal.level, goal.lifecycle) == (
            team_goal.goal.id,
            pb.GOAL_LEVEL_PERSONAL,
            pb.GOAL_LIFECYCLE_ACTIVE,
        )
        assert (goal.title, goal.metric.target, goal.team_id) == (
            team_goal.goal.title,
            30,
            "team-a",
        )

    await system.directory_stub.UpsertPerson(
        directory_pb2.UpsertPersonRequest(
            person_id="owner-3",
            name="Owner Three",
            email="owner-3@acme.example",
            team_id="team-a",
            manager_id="manager-1",
        ),
        metadata=hr,
    )
    await poll_replica(system, "owner-3")
    again = await stub.CascadeGoal(
        pb.CascadeGoalRequest(goal_id=team_goal.goal.id), metadata=manager
    )
    assert [c.goal.owner_id for c in again.created] == ["owner-3"]
    assert {e.owner_id: e.goal_id for e in again.already_cascaded} == {
        owner: goal.id for owner, goal in personal.items()
    }
    progress = await stub.CheckIn(
        pb.CheckInRequest(goal_id=personal["owner-1"].id, value=30, confidence=0.9),
        metadata=tenant_system.bearer("owner-1", ["employee"]),
    )
    assert progress.goal.progress == 1
    rolled_up = await stub.GetGoal(pb.GetGoalRequest(goal_id=team_goal.goal.id), metadata=hr)
    assert rolled_up.progress == pytest.approx(1 / 3)


async def poll_replica(system: RunningSystem, person_id: str) -> None:
    from tests.waiting import eventually

    await eventually(
        lambda: system.goals.replica.person(system.tenant_id(), person_id) is not None,
        what=f"{person_id} reaching the goals service",
    )


async def test_template_goals_are_made_once_per_person_and_recurring_goals_roll_over_once(
    tenant_system: RunningSystem,
) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    stub = tenant_system.goals_stub
    template_id = str(uuid.uuid4())
    request = pb.CreateGoalsFromTemplateRequest(
        template=pb.GoalTemplate(
            title="Complete the quarterly security training",
            description="All modules passed.",
            start_date="2026-01-01",
            due_date="2026-03-31",
            metric=pb.Metric(
                kind=pb.METRIC_KIND_BINARY,
                start=0,
                target=1,
                direction=pb.METRIC_DIRECTION_INCREASE,
            ),
            recurring=True,
        ),
        owner_ids=["owner-1"],
        template_id=template_id,
        activate=True,
    )
    first = await stub.CreateGoalsFromTemplate(request, metadata=hr)
    request.owner_ids.append("owner-2")
    second = await stub.CreateGoalsFromTemplate(request, metadata=hr)
    assert [c.goal.owner_id for c in first.created] == ["owner-1"]
    assert [c.goal.owner_id for c in second.created] == ["owner-2"]
    assert [e.owner_id for e in second.already_created] == ["owner-1"]
    assert {c.goal.template_id for c in (*first.created, *second.created)} == {template_id}
    assert first.created[0].goal.team_id == "team-a"

    goal = first.created[0].goal
    await stub.CompleteGoal(pb.CompleteGoalRequest(goal_id=goal.id), metadata=hr)
    rolled = await stub.RollOverGoal(
        pb.RollOverGoalRequest(goal_id=goal.id, activate=True), metadata=hr
    )
    assert (rolled.next.goal.start_date, rolled.next.goal.due_date) == ("2026-04-01", "2026-06-30")
    assert rolled.next.goal.previous_goal_id == goal.id
    assert rolled.previous.goal.next_goal_id == rolled.next.goal.id
    assert (rolled.next.goal.recurring, rolled.next.goal.has_current) == (True, False)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RollOverGoal(pb.RollOverGoalRequest(goal_id=goal.id), metadata=hr)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "next_goal_id" in error_details(caught.value)

    archived = await stub.ArchiveGoal(pb.ArchiveGoalRequest(goal_id=goal.id), metadata=hr)
    assert (archived.goal.lifecycle, archived.goal.status) == (
        pb.GOAL_LIFECYCLE_ARCHIVED,
        pb.GOAL_STATUS_COMPLETED,
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ReopenGoal(pb.ReopenGoalRequest(goal_id=goal.id, reason="x"), metadata=hr)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    other = second.created[0].goal
    await stub.CancelGoal(pb.CancelGoalRequest(goal_id=other.id, reason="on leave"), metadata=hr)
    reopened = await stub.ReopenGoal(
        pb.ReopenGoalRequest(goal_id=other.id, reason="back early"), metadata=hr
    )
    assert reopened.goal.lifecycle == pb.GOAL_LIFECYCLE_ACTIVE


async def test_pages_hold_only_visible_goals_and_smart_is_summarised_per_team(
    tenant_system: RunningSystem,
) -> None:
    hr = tenant_system.bearer("hr-1", ["hr_admin"])
    stub = tenant_system.goals_stub
    for number in range(5):
        request = team_goal_request()
        request.owner_id, request.level = "owner-1", pb.GOAL_LEVEL_PERSONAL
        request.visibility = pb.GOAL_VISIBILITY_PRIVATE if number % 2 else pb.GOAL_VISIBILITY_PUBLIC
        await stub.CreateGoal(request, metadata=hr)
    vague = pb.CreateGoalRequest(title="Be better", owner_id="owner-2", start_date="2026-01-01")
    await stub.CreateGoal(vague, metadata=hr)

    async def all_pages(metadata: tuple[tuple[str, str]], size: int) -> list[list[str]]:
        pages, token = [], ""
        while True:
            page = await stub.ListGoals(
                pb.ListGoalsRequest(team_id="team-a", page_size=size, page_token=token),
                metadata=metadata,
            )
            pages.append([goal.id for goal in page.goals])
            token = page.next_page_token
            if not token:
                return pages

    hr_pages = await all_pages(hr, 2)
    assert [len(page) for page in hr_pages] == [2, 2, 2]
    listed = [goal_id for page in hr_pages for goal_id in page]
    assert listed == sorted(set(listed))
    teammate_pages = await all_pages(tenant_system.bearer("owner-2", ["employee"]), 2)
    # Three public goals and owner-2's own; private goals of owner-1 are left out.
    assert sum(len(page) for page in teammate_pages) == 4
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListGoals(
            pb.ListGoalsRequest(team_id="team-b", page_size=2, page_token=_first_token(hr_pages)),
            metadata=hr,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    summary = await stub.SummariseSmart(pb.SummariseSmartRequest(team_id="team-a"), metadata=hr)
    (team,) = summary.teams
    assert (team.team_id, team.goal_count, team.measurable, team.time_bound) == (
        "team-a",
        6,
        5,
        5,
    )
    assert team.relevant == team.fully_smart == 0  # nothing aligns to a strategic objective


def _first_token(pages: list[list[str]]) -> str:
    """A token issued for team-a's listing (its first page's last goal)."""
    from services.goals.queries import GoalFilter, encode_page_token

    return encode_page_token(pages[0][-1], GoalFilter(team_id="team-a"))

"""The demo organisation `make run` loads: its story, read back through the public APIs, and a
second load that adds nothing."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from devstack.demo_load import load_demo
from northstar.directory.v1 import directory_pb2, directory_pb2_grpc
from northstar.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from northstar.projections.v1 import projections_pb2, projections_pb2_grpc
from tests.integration.conftest import bearer
from tests.people.conftest import REPO, DemoSystem

pytestmark = [pytest.mark.kafka]

HR = bearer("hannah.berg", ["hr_admin"])


async def test_the_demo_tells_its_story_through_the_apis(demo_system: DemoSystem) -> None:
    assert any("demo organisation loaded in" in line for line in demo_system.output)
    async with grpc.aio.insecure_channel(demo_system.address(0)) as channel:
        directory = directory_pb2_grpc.DirectoryServiceStub(channel)
        people: set[str] = set()
        for department in ("dept-product", "dept-gtm", "dept-ops"):
            members = await directory.ListTeamMembers(
                directory_pb2.ListTeamMembersRequest(team_id=department, include_subteams=True),
                metadata=HR,
            )
            people |= {person.person_id for person in members.people}
    assert len(people) == 60
    async with grpc.aio.insecure_channel(demo_system.address(4)) as channel:
        stub = projections_pb2_grpc.ProjectionServiceStub(channel)
        tree = await stub.GetAlignmentTree(
            projections_pb2.GetAlignmentTreeRequest(page_size=500), metadata=HR
        )
        summary = await stub.GetAlignmentSummary(
            projections_pb2.GetAlignmentSummaryRequest(page_size=500), metadata=HR
        )
        board = await stub.ListKpiScoreboard(
            projections_pb2.ListKpiScoreboardRequest(), metadata=HR
        )
        sales = next(n for n in tree.nodes if n.title == "Close 3.2 M EUR of new business")
        sales_history = await stub.GetGoalHistory(
            projections_pb2.GetGoalHistoryRequest(goal_id=sales.goal_id), metadata=HR
        )
        export = b"".join(
            [
                chunk.data
                async for chunk in stub.ExportHistory(
                    projections_pb2.ExportHistoryRequest(
                        aggregate_id=sales.goal_id, format=projections_pb2.EXPORT_FORMAT_JSONL
                    ),
                    metadata=HR,
                )
            ]
        )
    levels = Counter(projections_pb2.GoalLevel.Name(node.level) for node in tree.nodes)
    assert levels["GOAL_LEVEL_STRATEGY"] == 3
    assert levels["GOAL_LEVEL_COMPANY"] == 4
    assert levels["GOAL_LEVEL_TEAM"] == 8
    assert levels["GOAL_LEVEL_PERSONAL"] >= 49  # one each, and a private one
    statuses = {projections_pb2.GoalStatus.Name(count.status) for count in tree.status_counts}
    assert {"GOAL_STATUS_ON_TRACK", "GOAL_STATUS_AT_RISK", "GOAL_STATUS_OFF_TRACK"} <= statuses
    assert [orphan.title for orphan in summary.orphan_goals] == ["Pass the payroll audit"]
    changed = [e for e in sales_history.entries if e.event_type == "goals.GoalTargetChanged"]
    assert len(changed) == 1
    assert "board raised" in changed[0].reason
    check_ins = [
        json.loads(line)["data"]
        for line in export.decode().splitlines()
        if json.loads(line)["event_type"] == "goals.GoalCheckedIn"
    ]
    assert len(check_ins) == 10
    assert all(entry["note"].startswith("Week ") and entry["confidence"] for entry in check_ins)
    kpis = {score.name: score for score in board.kpis}
    assert len(kpis) == 5
    nps = kpis["Customer NPS"]
    assert nps.HasField("latest_value")
    # Three months measured; the trend runs on to the last period ended (overdue, no value).
    assert len([point for point in nps.trend if point.HasField("value")]) == 3
    assert kpis["Qualified leads"].status == "red"


async def test_a_second_load_adds_nothing(demo_system: DemoSystem) -> None:
    async def goal_count() -> int:
        async with grpc.aio.insecure_channel(demo_system.address(4)) as channel:
            tree = await projections_pb2_grpc.ProjectionServiceStub(channel).GetAlignmentTree(
                projections_pb2.GetAlignmentTreeRequest(page_size=1), metadata=HR
            )
            return int(tree.total_size)

    before = await goal_count()
    said = await load_demo("127.0.0.1", demo_system.base_port, demo_system.data_dir)
    assert said.startswith("demo organisation already loaded on ")
    assert await goal_count() == before


def test_make_run_demo_0_starts_without_the_demo() -> None:
    def run_command(*args: str) -> str:
        dry_run = subprocess.run(
            ["make", "-n", "--no-print-directory", "run", *args],
            cwd=REPO, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return dry_run.stdout.strip().splitlines()[-1]

    assert run_command("DEMO=0").endswith("-m devstack.run --no-demo")
    assert run_command().endswith("-m devstack.run")


def loaded_ids(system: DemoSystem) -> dict[str, Any]:
    """The ids the loader wrote down: the feedback API lists no one's 1:1s or requests."""
    loaded: dict[str, Any] = json.loads((system.data_dir / "demo-loaded.json").read_text())
    return loaded


async def test_the_demo_has_feedback_360s_and_one_on_ones(demo_system: DemoSystem) -> None:
    ids = loaded_ids(demo_system)
    today = datetime.now(UTC).date().isoformat()
    async with grpc.aio.insecure_channel(demo_system.address(2)) as channel:
        feedback = feedback_pb2_grpc.FeedbackServiceStub(channel)

        async def received(person: str, viewer: str, role: str) -> list[feedback_pb2.Feedback]:
            answer = await feedback.ListFeedback(
                feedback_pb2.ListFeedbackRequest(
                    person_id=person, direction=feedback_pb2.FEEDBACK_DIRECTION_RECEIVED
                ),
                metadata=bearer(viewer, [role]),
            )
            return list(answer.feedback)

        toms = await received("tom.becker", "tom.becker", "employee")
        praise = [f for f in toms if f.kind == feedback_pb2.FEEDBACK_KIND_PRAISE]
        assert len(praise) >= 2
        assert {"Ownership", "Craft"} <= {value for f in praise for value in f.values}
        assert any(f.goal_id for f in praise)
        # Private feedback: the recipient reads it, a peer does not see it at all.
        jonas_own = await received("jonas.weber", "jonas.weber", "employee")
        constructive = [f for f in jonas_own if f.kind == feedback_pb2.FEEDBACK_KIND_CONSTRUCTIVE]
        assert constructive[0].text
        assert constructive[0].visibility == feedback_pb2.FEEDBACK_VISIBILITY_PRIVATE_WITH_MANAGER
        assert await received("jonas.weber", "mei.lin", "employee") == []
        lenas_view = await received("tom.becker", "lena.fischer", "manager")
        assert any(f.kind == feedback_pb2.FEEDBACK_KIND_NOTE_TO_SELF for f in lenas_view)

        async def results(key: str, viewer: str) -> feedback_pb2.FeedbackRequestResults:
            return await feedback.GetFeedbackRequestResults(
                feedback_pb2.GetFeedbackRequestResultsRequest(request_id=ids["feedback_requests"][key]),
                metadata=bearer(viewer, ["manager"]),
            )  # fmt: skip

        toms_360 = await results("tom", "lena.fischer")
        assert [a.perspective for a in toms_360.aggregates] == [feedback_pb2.PERSPECTIVE_PEER]
        assert toms_360.aggregates[0].answer_count == 5
        assert {n.reviewer_id for n in toms_360.named} == {"tom.becker", "lena.fischer"}
        lenas_360 = await results("lena", "sofia.marin")
        assert list(lenas_360.aggregates) == []  # two peers, two reports: below the threshold
        assert {n.reviewer_id for n in lenas_360.named} == {"lena.fischer", "sofia.marin"}

        series = await feedback.GetOneOnOne(
            feedback_pb2.GetOneOnOneRequest(one_on_one_id=ids["one_on_ones"]["lena/tom"]),
            metadata=bearer("tom.becker", ["employee"]),
        )
    assert series.last_held_on == today
    assert series.next_meeting > today
    assert len(series.agenda) == 2
    carried = [item for item in series.action_items if not item.done]
    assert [item.added_for for item in carried] == [today]  # from the meeting held today
    async with grpc.aio.insecure_channel(demo_system.address(4)) as channel:
        activity = await projections_pb2_grpc.ProjectionServiceStub(channel).GetFeedbackActivity(
            projections_pb2.GetFeedbackActivityRequest(person_id="tom.becker"),
            metadata=bearer("lena.fischer", ["manager"]),
        )
    assert activity.people[0].last_one_on_one == today
    assert len(activity.recognition_feed) >= 2

"""The demo organisation `make run` loads: its story, read back through the public APIs, and a
second load that adds nothing."""

from __future__ import annotations

import json
import subprocess
from collections import Counter

import grpc
import pytest

from devstack.demo_load import load_demo
from northstar.directory.v1 import directory_pb2, directory_pb2_grpc
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
    assert len(nps.trend) == 3
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

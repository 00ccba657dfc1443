"""The installed `northstar` command against a running system with the demo organisation."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf.json_format import MessageToDict

from northstar.goals.v1 import goals_pb2, goals_pb2_grpc
from northstar.projections.v1 import projections_pb2, projections_pb2_grpc
from northstar_cli.tree import percent, status_word
from tests.integration.conftest import bearer
from tests.people.conftest import REPO, DemoSystem

pytestmark = [pytest.mark.kafka]

NORTHSTAR = Path(sys.executable).parent / "northstar"
LENA = bearer("lena.fischer", ["manager"])


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NORTHSTAR), *args],
        env={**os.environ, "NORTHSTAR_CONFIG": str(config), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def logged_in(system: DemoSystem, folder: Path, person: str, role: str) -> Path:
    path = folder / f"{person}.json"
    done = run_cli(path, "login", "--dev", "--as", person, "--tenant", "acme", "--role", role,
                   "--base-port", str(system.base_port))  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture
def config(demo_system: DemoSystem, tmp_path: Path) -> Path:
    path = tmp_path / "northstar.json"
    done = run_cli(
        path, "login", "--dev", "--as", "lena.fischer", "--tenant", "acme", "--role", "manager",
        "--base-port", str(demo_system.base_port),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


def alignment_answer(system: DemoSystem) -> projections_pb2.AlignmentTree:
    with grpc.insecure_channel(system.address(4)) as channel:
        stub = projections_pb2_grpc.ProjectionServiceStub(channel)
        tree: projections_pb2.AlignmentTree = stub.GetAlignmentTree(
            projections_pb2.GetAlignmentTreeRequest(page_size=500), metadata=LENA
        )
        assert tree.next_page_token == ""
        return tree


def alignment_summary(system: DemoSystem) -> projections_pb2.AlignmentSummary:
    with grpc.insecure_channel(system.address(4)) as channel:
        stub = projections_pb2_grpc.ProjectionServiceStub(channel)
        summary: projections_pb2.AlignmentSummary = stub.GetAlignmentSummary(
            projections_pb2.GetAlignmentSummaryRequest(page_size=500), metadata=LENA
        )
        return summary


def test_the_tree_shows_the_projections_answer_node_by_node(
    demo_system: DemoSystem, config: Path
) -> None:
    shown = run_cli(config, "tree")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    tree, summary = alignment_answer(demo_system), alignment_summary(demo_system)
    orphans = {node.goal_id for node in summary.orphan_goals}
    assert len(tree.nodes) == tree.total_size > 50
    position = 0
    for node in tree.nodes:
        # Every node once, in the answer's order, at its depth, with its numbers.
        found = [i for i, line in enumerate(lines) if f"  {node.goal_id[:8]}" in line]
        assert len(found) == 1, node.title
        position, line = found[0], lines[found[0]]
        assert node.title in line
        assert f"{percent(node.progress):>4}  {node.title}  {status_word(node.status)}" in line
        bar_column = min(line.index(c) for c in "█░" if c in line)
        assert bar_column == 4 * (node.depth + 1), line
        assert ("ORPHAN" in line) == (node.goal_id in orphans), line
    assert position == len(lines) - 2  # the last node, then the status line
    assert lines[-1].endswith(f"Orphans: {summary.orphan_count}"), lines[-1]
    assert summary.orphan_count >= 1


def test_json_is_the_grpc_answer(demo_system: DemoSystem, config: Path) -> None:
    shown = run_cli(config, "tree", "--json")
    assert shown.returncode == 0, shown.stderr
    answer = json.loads(shown.stdout)
    expected = MessageToDict(
        alignment_answer(demo_system),
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
    assert answer["alignment_tree"] == expected
    assert (
        answer["alignment_summary"]["orphan_count"] == alignment_summary(demo_system).orphan_count
    )
    # The goals service's own list: its visibility rule differs from the projections' (team
    # goals of other teams hidden, reports' private goals shown), so it is not the same set.
    listed = json.loads(run_cli(config, "goals", "list", "--json").stdout)
    in_tree = {node["goal_id"] for node in expected["nodes"]}
    assert len({goal["id"] for goal in listed["goals"]} & in_tree) > 50


def test_a_bad_argument_is_said_in_plain_words_with_exit_code_2(config: Path) -> None:
    refused = run_cli(config, "goals", "check-in", "latency", "400", "--confidence", "7")
    assert refused.returncode == 2
    assert "7 is not between 0 and 1" in refused.stderr
    assert "Traceback" not in refused.stderr

    bad_date = run_cli(config, "goals", "create", "--title", "x", "--start", "2026-13-01")
    assert bad_date.returncode == 2
    assert "is not a date; write it as YYYY-MM-DD" in bad_date.stderr


def test_input_the_server_refuses_names_the_field_with_exit_code_2(config: Path) -> None:
    refused = run_cli(config, "goals", "create", "--title", "   ", "--start", "2026-01-01")
    assert refused.returncode == 2, refused.stderr
    assert "goals: the request is not valid (field `title`)" in refused.stderr
    as_json = run_cli(config, "goals", "create", "--title", "", "--start", "2026-01-01", "--json")
    assert as_json.returncode == 2
    error = json.loads(as_json.stderr)["error"]
    assert (error["code"], error["field"]) == ("INVALID_ARGUMENT", "title")


def test_other_failures_exit_1_in_plain_words(config: Path) -> None:
    missing = run_cli(config, "goals", "show", "00000000-0000-4000-8000-000000000000")
    assert missing.returncode == 1
    assert "goals: not found (or not visible to you)" in missing.stderr
    history = run_cli(config, "export", "--output", "/dev/null")
    assert history.returncode == 1
    assert "you are not allowed to do that" in history.stderr


def test_a_check_in_from_the_terminal_reaches_the_goal_and_its_history(
    demo_system: DemoSystem, config: Path
) -> None:
    done = run_cli(
        config, "goals", "check-in", "Move 12 services", "11", "--confidence", "0.9",
        "--note", "gateway migration nearly done", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["goal"]["current"] == 11
    with grpc.insecure_channel(demo_system.address(1)) as channel:
        goal = goals_pb2_grpc.GoalServiceStub(channel).GetGoal(
            goals_pb2.GetGoalRequest(goal_id=answer["goal"]["id"]), metadata=LENA
        )
    assert goal.version == int(answer["version"])
    trail = run_cli(config, "goals", "history", answer["goal"]["id"])
    assert trail.returncode == 0, trail.stderr
    assert "lena.fischer" in trail.stdout.splitlines()[-2]


def readme_tour() -> list[str]:
    text = (REPO / "README.md").read_text()
    tour = text.split("## A short tour", 1)[1].split("\n## ", 1)[0]
    return [line for line in tour.splitlines() if line.startswith(".venv/bin/northstar ")]


def test_the_readme_tour_works_as_written(demo_system: DemoSystem, tmp_path: Path) -> None:
    config = tmp_path / "tour.json"
    # The README's commands use make run's default ports; this system runs on others.
    configured = run_cli(config, "login", "--dev", "--as", "nobody", "--tenant", "acme",
                         "--base-port", str(demo_system.base_port))  # fmt: skip
    assert configured.returncode == 0
    commands = readme_tour()
    assert len(commands) >= 4
    outputs = []
    for command in commands:
        done = run_cli(config, *shlex.split(command.removeprefix(".venv/bin/northstar ")))
        assert done.returncode == 0, f"{command}: {done.stderr}"
        outputs.append(done.stdout)
    assert "Win the mid-market" in "".join(outputs)

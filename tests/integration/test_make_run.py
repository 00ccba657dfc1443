"""`make run` as a person uses it: everything starts, answers, stops on Ctrl-C, and keeps data."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from northstar.directory.v1 import directory_pb2, directory_pb2_grpc
from northstar.goals.v1 import goals_pb2, goals_pb2_grpc
from northstar.projections.v1 import projections_pb2, projections_pb2_grpc
from tests.integration.conftest import bearer

pytestmark = [pytest.mark.kafka]

HR = bearer("hr-1", ["hr_admin"])
REPO = Path(__file__).resolve().parents[2]


def free_port_block() -> int:
    """A base port whose gRPC (base..base+4) and metrics (base+100..) ports are all free."""
    # Below the kernel's ephemeral range (32768 and up): a client socket of another test's
    # process cannot take one of these between the check and the services binding it.
    for base in range(21000, 32768 - 105, 211):
        ports = [*range(base, base + 5), *range(base + 100, base + 105)]
        if all(_is_free(port) for port in ports):
            return base
    raise RuntimeError("no free block of ports")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def start_system(data_dir: Path, base_port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.run",
            "--data-dir",
            str(data_dir),
            "--base-port",
            str(base_port),
            # This test is about the services; the demo and the web pages have their own tests.
            "--no-demo",
            "--web-port",
            "0",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if "Northstar is running" in line:
            return process
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError("make run did not come up:\n" + "".join(seen))


def stop_system(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=60)


async def seed_owner(directory_port: int) -> None:
    """owner-1 in team-a, through the directory's API (goals need an owner who exists)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{directory_port}") as channel:
        stub = directory_pb2_grpc.DirectoryServiceStub(channel)
        await stub.UpsertTeam(
            directory_pb2.UpsertTeamRequest(team_id="team-a", name="Team A"), metadata=HR
        )
        await stub.UpsertPerson(
            directory_pb2.UpsertPersonRequest(
                person_id="owner-1", name="Owner", email="owner-1@acme.example", team_id="team-a"
            ),
            metadata=HR,
        )


async def create_goal(goals_port: int) -> goals_pb2.GoalCommandResponse:
    """Retries while the goals service has not yet seen owner-1 (a refusal stores nothing)."""
    request = goals_pb2.CreateGoalRequest(
        title="Keep customer NPS above 40",
        owner_id="owner-1",
        team_id="team-a",
        level=goals_pb2.GOAL_LEVEL_TEAM,
        start_date="2026-01-01",
        due_date="2026-12-31",
        activate=True,
    )
    deadline = time.monotonic() + 60
    async with grpc.aio.insecure_channel(f"127.0.0.1:{goals_port}") as channel:
        stub = goals_pb2_grpc.GoalServiceStub(channel)
        while True:
            try:
                response: goals_pb2.GoalCommandResponse = await stub.CreateGoal(
                    request, metadata=HR
                )
                return response
            except grpc.aio.AioRpcError as error:
                waiting = error.code() == grpc.StatusCode.FAILED_PRECONDITION
                if not waiting or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.2)


async def goal_history(projections_port: int, goal_id: str, token: str) -> list[str]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{projections_port}") as channel:
        stub = projections_pb2_grpc.ProjectionServiceStub(channel)
        history = await stub.GetGoalHistory(
            projections_pb2.GetGoalHistoryRequest(goal_id=goal_id, consistency_tokens=[token]),
            metadata=HR,
        )
        return [entry.event_type for entry in history.entries]


async def get_goal(goals_port: int, goal_id: str) -> goals_pb2.Goal:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{goals_port}") as channel:
        stub = goals_pb2_grpc.GoalServiceStub(channel)
        goal: goals_pb2.Goal = await stub.GetGoal(
            goals_pb2.GetGoalRequest(goal_id=goal_id), metadata=HR
        )
        return goal


async def test_make_run_serves_stops_cleanly_and_keeps_data_across_restarts(
    tmp_path: Path,
) -> None:
    base = free_port_block()
    directory_port, goals_port, projections_port = base, base + 1, base + 4
    first = await asyncio.to_thread(start_system, tmp_path, base)
    try:
        await seed_owner(directory_port)
        created = await create_goal(goals_port)
        history = await goal_history(projections_port, created.goal.id, created.position_token)
        assert history == ["goals.GoalCreated", "goals.GoalActivated"]
    finally:
        assert await asyncio.to_thread(stop_system, first) == 0

    second = await asyncio.to_thread(start_system, tmp_path, base)
    try:
        again = await get_goal(goals_port, created.goal.id)
        assert again.title == "Keep customer NPS above 40"
        assert again.version == created.version
        history = await goal_history(projections_port, created.goal.id, created.position_token)
        assert history == ["goals.GoalCreated", "goals.GoalActivated"]
    finally:
        assert await asyncio.to_thread(stop_system, second) == 0

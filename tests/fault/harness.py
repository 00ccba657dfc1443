"""What the fault tests share: services as real processes (to SIGKILL), their metrics and
health, bounded command loads through the goals API, and what the read model holds.

Everything listens on loopback; every load is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from devstack.kafka import REPO_ROOT, free_loopback_port
from northstar.goals.v1 import goals_pb2, goals_pb2_grpc
from services.shared.auth import DEFAULT_DEV_SECRET
from services.shared.readmodel import ReadModelDatabase
from tests.integration.conftest import bearer, platform_operator

HR = bearer("hr-1", ["hr_admin"])
OPERATOR = platform_operator("ops-1")
START_TIMEOUT_SECONDS = 120.0


REPORTS: list[str] = []
"""Every fault test's line, shown again in the run's summary (tests/fault/conftest.py)."""


def report(test: str, killed: str, checked: str, **figures: object) -> None:
    """One line per fault test in the run's output: what it killed, what it checked, figures."""
    numbers = ", ".join(f"{name.replace('_', ' ')}={value}" for name, value in figures.items())
    line = f"[fault] {test}: killed {killed}; checked {checked}; {numbers}"
    REPORTS.append(line)
    print(f"\n{line}", flush=True)


def service_env(kafka: str, namespace: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORTHSTAR_")}
    env.update(
        NORTHSTAR_KAFKA_BOOTSTRAP_SERVERS=kafka,
        NORTHSTAR_TOPIC_NAMESPACE=namespace,
        NORTHSTAR_DATA_DIR=str(data_dir),
        NORTHSTAR_JWT_DEV_SECRET=DEFAULT_DEV_SECRET,
        NORTHSTAR_READ_WAIT_TIMEOUT_SECONDS="30",
        **extra,
    )
    return env


@dataclass
class ServiceProcess:
    """`python -m services.<service>` with fixed loopback ports (kept across restarts)."""

    service: str
    env: dict[str, str]
    log_path: Path
    grpc_port: int = field(default_factory=free_loopback_port)
    metrics_port: int = field(default_factory=free_loopback_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Starts the process; returns at once (see `wait_serving`)."""
        env = dict(
            self.env,
            NORTHSTAR_GRPC_PORT=str(self.grpc_port),
            NORTHSTAR_METRICS_PORT=str(self.metrics_port),
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.service}"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._drain, args=(self.process,), daemon=True).start()

    def _drain(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with self.log_path.open("ab") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()

    async def wait_serving(self, within_seconds: float = START_TIMEOUT_SECONDS) -> None:
        """Until the service's gRPC health answers SERVING (on its fixed port)."""
        deadline = time.monotonic() + within_seconds
        while await self.health() != health_pb2.HealthCheckResponse.SERVING:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.service} exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.service} did not start; see {self.log_path}")
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind (a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(f"127.0.0.1:{self.grpc_port}")

    async def health(self) -> int:
        """The service's health status, or -1 while nothing answers."""
        async with self.channel() as channel:
            try:
                answer = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=1.0
                )
            except grpc.aio.AioRpcError:
                return -1
            return int(answer.status)

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Sum of the samples of `name` whose labels include `labels` (0 when unreachable)."""
        import urllib.request

        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2
            ) as answer:
                text = answer.read().decode()
        except OSError:
            return 0.0
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in (labels or {}).items()
                ):
                    total += sample.value
        return total


def namespace() -> str:
    return f"fault{uuid.uuid4().hex[:10]}"


@dataclass
class Acknowledged:
    """The commands a client saw succeed: the highest acknowledged version of each goal."""

    versions: dict[str, int] = field(default_factory=dict)
    commands: int = 0
    failures: int = 0

    def record(self, response: goals_pb2.GoalCommandResponse) -> None:
        self.commands += 1
        goal_id = response.goal.id
        self.versions[goal_id] = max(self.versions.get(goal_id, 0), response.version)

    @property
    def events(self) -> int:
        return sum(self.versions.values())


def create_request(title: str) -> goals_pb2.CreateGoalRequest:
    return goals_pb2.CreateGoalRequest(
        title=title,
        owner_id="owner-1",
        team_id="team-a",
        level=goals_pb2.GOAL_LEVEL_TEAM,
        start_date="2026-01-01",
        due_date="2026-12-31",
        activate=True,
        metric=goals_pb2.Metric(
            kind=goals_pb2.METRIC_KIND_NUMBER,
            start=0,
            target=100,
            direction=goals_pb2.METRIC_DIRECTION_INCREASE,
        ),
    )


async def command_load(
    address: Callable[[], str],
    acknowledged: Acknowledged,
    *,
    goals: int,
    check_ins: int,
    seconds: float,
    during: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Creates `goals` goals and checks each in `check_ins` times, retrying refused commands
    until `seconds` run out; `during` runs (e.g. a kill) once a third of the load is done."""
    deadline = time.monotonic() + seconds
    started_fault = asyncio.Event()

    async def call(make: Callable[[goals_pb2_grpc.GoalServiceAsyncStub], Any]) -> Any:
        refused = "none"
        while time.monotonic() < deadline:
            async with grpc.aio.insecure_channel(address()) as channel:
                try:
                    stub: goals_pb2_grpc.GoalServiceAsyncStub = goals_pb2_grpc.GoalServiceStub(
                        channel
                    )
                    return await make(stub)
                except grpc.aio.AioRpcError as error:
                    acknowledged.failures += 1
                    refused = f"{error.code().name}: {error.details()}"
                    await asyncio.sleep(0.2)
        raise AssertionError(
            f"the load ({goals} goals, {check_ins} check-ins each) did not finish within "
            f"{seconds:g}s: {acknowledged.commands} commands acknowledged, "
            f"{acknowledged.failures} refused, the last refusal: {refused}"
        )

    async def one_goal(n: int) -> None:
        created = await call(
            lambda stub: stub.CreateGoal(create_request(f"Goal {n}"), metadata=HR, timeout=10)
        )
        acknowledged.record(created)
        for value in range(1, check_ins + 1):
            check_in = goals_pb2.CheckInRequest(
                goal_id=created.goal.id, value=value, confidence=0.5, note=f"{value}"
            )

            def send(stub: goals_pb2_grpc.GoalServiceAsyncStub, r: Any = check_in) -> Any:
                return stub.CheckIn(r, metadata=HR, timeout=10)

            acknowledged.record(await call(send))
            if (
                during is not None
                and not started_fault.is_set()
                and (acknowledged.commands >= goals * (check_ins + 1) // 3)
            ):
                started_fault.set()
                await during()

    workers = 4
    for first in range(0, goals, workers):
        await asyncio.gather(*(one_goal(n) for n in range(first, min(first + workers, goals))))


def read_model_counts(db: ReadModelDatabase, entries_table: str) -> dict[str, tuple[int, int]]:
    """Per goal: (entries, highest version) in the read model's audit table."""
    rows = db.read(
        f"SELECT aggregate_id, COUNT(*), MAX(version) FROM {entries_table} GROUP BY aggregate_id"
    )
    return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}


def lost_and_doubled(
    acknowledged: Acknowledged, counts: dict[str, tuple[int, int]]
) -> tuple[int, int]:
    """(acknowledged events missing from the read model, entries beyond one per version)."""
    lost = sum(max(v - counts.get(g, (0, 0))[1], 0) for g, v in acknowledged.versions.items())
    doubled = sum(max(n - top, 0) for n, top in counts.values())
    return lost, doubled

"""What the demo loader writes with: gRPC stubs, tokens, retries while replicas catch up, and
the shape of a quarter of check-ins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from types import TracebackType
from typing import Any, TypeVar

import grpc

from devstack.demo_org import TENANT
from northstar.directory.v1 import directory_pb2_grpc
from northstar.feedback.v1 import feedback_pb2_grpc
from northstar.goals.v1 import goals_pb2_grpc
from northstar.kpi.v1 import kpi_pb2_grpc
from northstar.projections.v1 import projections_pb2_grpc
from northstar_cli.config import SERVICE_OFFSETS
from services.shared.auth import DEFAULT_DEV_SECRET, mint_dev_token

R = TypeVar("R")
Metadata = tuple[tuple[str, str], ...]
# The goals and KPI services learn people and teams from the directory's events: until their
# replicas have them, a write naming them is refused (FAILED_PRECONDITION) and stores nothing.
REPLICA_WAIT_SECONDS = 120.0
READ_WAIT_SECONDS = 120.0

NOTES = {
    "on_track": [
        "kick-off done, plan agreed with the team",
        "first results are in",
        "steady progress, no blockers",
        "a good sprint, slightly ahead of plan",
        "on plan",
        "reviewed the numbers with my manager: on course",
        "the new process is paying off",
        "still on plan after the holidays",
        "on course for the quarter",
        "the finish line is in sight",
    ],
    "at_risk": [
        "slower start than planned",
        "waiting on another team for an API",
        "two people out sick this week",
        "the scope is bigger than we thought",
        "caught up a little",
        "vendor delay: asked for help",
        "recovering, but behind plan",
        "still behind: we cut scope to make it",
        "some progress, the risk stays",
        "it will be tight",
    ],
    "off_track": [
        "started late: budget approval took three weeks",
        "the campaign budget is frozen until next month",
        "the main channel underperforms",
        "escalated to the leadership team",
        "new plan agreed, results lag",
        "still far behind",
        "the new channel starts slowly",
        "we will miss the target: re-planning",
        "some recovery, not enough",
        "learning for next quarter written up",
    ],
}


def check_in_plan(
    pace: str, weeks: int, progress: float, confidence: float
) -> Iterator[tuple[int, str, float, float]]:
    """(week, note, share of the target reached, confidence) per check-in of a ten-week quarter
    (every week for `weeks` 10, every other week for 5), ending at `progress` and `confidence`."""
    step = 10 // weeks
    for index in range(weeks):
        week = (index + 1) * step
        wobble = ((week * 7) % 3 - 1) * 0.02  # a little unevenness, the same on every load
        share = max(0.0, min(1.0, progress * week / 10 + (wobble if week < 10 else 0.0)))
        trust = round(0.75 + (confidence - 0.75) * week / 10, 2)
        yield week, NOTES[pace][week - 1], share, trust


def period_of(quarter_start: date, month_offset: int) -> str:
    """The month `month_offset` months after the quarter's first month, e.g. "2026-03"."""
    months = quarter_start.year * 12 + quarter_start.month - 1 + month_offset
    return f"{months // 12:04d}-{months % 12 + 1:02d}"


class Writer:
    """Channels to every service of one `make run`, and dev tokens for the demo's people."""

    def __init__(self, host: str, base_port: int) -> None:
        self._channels = {
            name: grpc.aio.insecure_channel(f"{host}:{base_port + offset}")
            for name, offset in SERVICE_OFFSETS.items()
        }
        self.directory = directory_pb2_grpc.DirectoryServiceStub(self._channels["directory"])
        self.goals = goals_pb2_grpc.GoalServiceStub(self._channels["goals"])
        self.kpi = kpi_pb2_grpc.KpiServiceStub(self._channels["kpi"])
        self.feedback = feedback_pb2_grpc.FeedbackServiceStub(self._channels["feedback"])
        self.projections = projections_pb2_grpc.ProjectionServiceStub(self._channels["projections"])
        self._tokens: dict[tuple[str, str], Metadata] = {}

    async def __aenter__(self) -> Writer:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for channel in self._channels.values():
            await channel.close(None)

    def token(self, subject: str, role: str) -> Metadata:
        if (subject, role) not in self._tokens:
            jwt = mint_dev_token(
                DEFAULT_DEV_SECRET,
                subject=subject,
                tenant_id=TENANT,
                roles=[role],
                ttl_seconds=3600,
            )
            self._tokens[subject, role] = (("authorization", f"Bearer {jwt}"),)
        return self._tokens[subject, role]

    async def retrying(
        self,
        method: Callable[..., Awaitable[R]],
        request: Any,
        metadata: Metadata,
        waiting_on: frozenset[grpc.StatusCode] = frozenset({grpc.StatusCode.FAILED_PRECONDITION}),
    ) -> R:
        """Calls `method`, again while the service's directory replica lacks a person or team
        (the codes in `waiting_on` are what the service answers until it has them)."""
        deadline = time.monotonic() + REPLICA_WAIT_SECONDS
        while True:
            try:
                return await method(request, metadata=metadata)
            except grpc.aio.AioRpcError as error:
                if error.code() not in waiting_on or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.3)

    async def until_read(
        self, method: Callable[..., Awaitable[R]], request: Any, metadata: Metadata
    ) -> R:
        """Calls a query with consistency tokens until the read model includes them."""
        deadline = time.monotonic() + READ_WAIT_SECONDS
        while True:
            try:
                return await method(request, metadata=metadata)
            except grpc.aio.AioRpcError as error:
                waiting = error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                if not waiting or time.monotonic() > deadline:
                    raise

"""A check-in on the root of a large goal tree against one on a leaf of the same tree: the
goals service answers every command with the goal's rolled-up progress, so the root's answer
covers the whole tree below it."""

from __future__ import annotations

import time
import uuid
from datetime import date
from uuid import UUID

import grpc

from bench.report import Measurement, median
from bench.workload import (
    OWNER,
    TEAM,
    TENANT,
    BenchEnvironment,
    bearer_metadata,
    create_topics,
    new_namespace,
    register_owner,
    service_banners_to_stderr,
)
from northstar.goals.v1 import goals_pb2, goals_pb2_grpc
from services.goals.__main__ import start_goals_service
from services.goals.application import GoalsApplication
from services.goals.goal import Goal
from services.goals.metrics import Metric
from services.shared.eventstore import CommandContext

TREE_SIZES = {"full": (100, 1_000, 10_000), "quick": (100, 1_000)}
CALLS = {"full": 10, "quick": 5}
FAN_OUT = 10
SAVE_BATCH = 500


def _goal(title: str, level: str, parent_id: UUID | None, *, leaf: bool) -> Goal:
    """A leaf is measured by its own metric; every other goal is driven by its children (the
    root has a metric too, so that it takes the same check-in as a leaf)."""
    goal = Goal.create(
        tenant_id=TENANT,
        title=title,
        description="Benchmark goal tree",
        owner_id=OWNER,
        team_id=TEAM,
        level=level,
        start_date=date(2026, 1, 1),
        due_date=date(2026, 12, 31),
        metric=Metric("number", "increase", 0.0, 100.0) if leaf or parent_id is None else None,
        parent_goal_id=parent_id,
        visibility="public",
        created_by=OWNER,
        progress_source=None if leaf else "children",
    )
    goal.activate(OWNER)
    return goal


def seed_tree(app: GoalsApplication, size: int) -> tuple[UUID, UUID]:
    """`size` active goals, goal i aligned to goal (i - 1) // FAN_OUT; (root id, a leaf id)."""
    context = CommandContext.new(TENANT, OWNER)
    ids: list[UUID] = []
    pending: list[Goal] = []
    first_leaf = (size - 2) // FAN_OUT + 1  # goals from here on have no children
    for number in range(size):
        parent_id = ids[(number - 1) // FAN_OUT] if number else None
        level = "strategy" if number == 0 else ("personal" if number >= first_leaf else "team")
        goal = _goal(f"Goal {number}", level, parent_id, leaf=number >= first_leaf)
        ids.append(goal.id)
        pending.append(goal)
        if len(pending) == SAVE_BATCH:
            app.save_goals(context, *pending)
            pending = []
    if pending:
        app.save_goals(context, *pending)
    return ids[0], ids[-1]


async def tree_check_in_latencies(
    env: BenchEnvironment, size: int, calls: int
) -> tuple[list[float], list[float]]:
    """CheckIn latencies in ms on the root and on a leaf of a `size`-goal tree, alternated,
    after one untimed call each."""
    namespace = new_namespace("tree")
    await create_topics(env.require_kafka(), [f"{namespace}.goals.v1"])
    folder = f"tree-goals-{uuid.uuid4().hex[:6]}"
    with service_banners_to_stderr():
        service = await start_goals_service(env.settings(namespace, folder))
    metadata = bearer_metadata()
    try:
        register_owner(service.replica)
        root_id, leaf_id = seed_tree(service.app, size)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.runtime.grpc_port}") as channel:
            stub = goals_pb2_grpc.GoalServiceStub(channel)

            async def check_in(goal_id: UUID, number: int) -> float:
                request = goals_pb2.CheckInRequest(
                    goal_id=str(goal_id), value=float(number % 100), confidence=0.7, note="tree"
                )
                started = time.perf_counter()
                await stub.CheckIn(request, metadata=metadata)
                return (time.perf_counter() - started) * 1000

            await check_in(root_id, 0)
            await check_in(leaf_id, 0)
            root, leaf = [], []
            for number in range(1, calls + 1):
                root.append(await check_in(root_id, number))
                leaf.append(await check_in(leaf_id, number))
    finally:
        await service.stop()
        service.app.close()
    return root, leaf


async def goal_tree_check_in(env: BenchEnvironment) -> list[Measurement]:
    scale = "quick" if env.sizes.grpc_calls < 500 else "full"
    measurements = []
    for size in TREE_SIZES[scale]:
        root, leaf = await tree_check_in_latencies(env, size, CALLS[scale])
        measurements.append(
            Measurement(
                benchmark="goal_tree_check_in",
                figure=f"root / leaf p50, {size:,} goals",
                unit="ms",
                baseline=median(leaf),
                ours=median(root),
                better="lower",
                meaning=(
                    f"a CheckIn on the root of a {size:,}-goal tree (fan-out {FAN_OUT}, inner goals"
                    " driven by their children) against one on a leaf of the same tree"
                ),
                details={"goals": size, "calls": len(root), "root_ms": root, "leaf_ms": leaf},
            )
        )
    return measurements

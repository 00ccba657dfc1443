"""Rebuilding a read model on real Kafka while commands keep arriving and queries keep coming:
the new version is switched in, no query fails, and its content equals both the version it
replaced (built live, event by event) and a fresh full replay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from services.projections.__main__ import start_projections_service
from services.projections.consistency import wait_for_positions
from services.projections.goals_projection import GoalsProjection
from services.shared.consumer import EventConsumer
from services.shared.metrics import ServiceMetrics
from services.shared.runtime import kafka_broker
from tests.integration.conftest import FAST_RETRY, RunningSystem, bearer, platform_operator
from tests.integration.test_walking_skeleton import create, metric
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

HR = bearer("hr-1", ["hr_admin"])  # in the seed tenant "acme" of a system of the test's own

OPERATIONS = platform_operator()


def applied(system: RunningSystem, projection: str) -> float:
    registry = system.projections.runtime.metrics.registry
    return float(
        registry.get_sample_value("northstar_events_applied_total", {"projection": projection})
        or 0.0
    )


async def live_after_rebuild(system: RunningSystem, version: str) -> projections_pb2.RebuildStatus:
    """Polls the rebuild status (as the platform operator) until `version` serves queries."""
    deadline = time.monotonic() + 60
    while True:
        status: projections_pb2.RebuildStatus = await system.projections_stub.GetRebuildStatus(
            projections_pb2.GetRebuildStatusRequest(read_model=projections_pb2.READ_MODEL_GOALS),
            metadata=OPERATIONS,
        )
        assert 0.0 <= status.progress <= 1.0
        if status.live_version == version:
            return status
        assert time.monotonic() < deadline, f"{version} was not switched in within 60s"
        await asyncio.sleep(0.05)


async def catch_up_retired(system: RunningSystem, version: str, tokens: Sequence[str]) -> None:
    """Let a retired version apply what arrived after the switch stopped its consumer: its
    consumer group resumes from its committed offsets until every token's position is in."""
    group_id = system.projections.read_models.group_id  # goals-v1 consumes with the bare group
    broker = kafka_broker(system.settings.kafka_bootstrap_servers, client_id=f"test-{version}")
    EventConsumer(
        broker=broker,
        name=version,
        topics=(system.settings.topic_for("goals"),),
        group_id=group_id,
        apply=GoalsProjection(system.projections.db, version).apply,
        metrics=ServiceMetrics("projections-catch-up"),
        retry=FAST_RETRY,
    )
    await broker.start()
    try:
        await wait_for_positions(
            system.projections.db,
            version,
            "acme",
            tokens,
            60.0,
            audit_tables=[GoalsProjection(system.projections.db, version).audit.entries],
        )
    finally:
        await broker.stop()


async def test_rebuild_under_load_switches_in_without_a_failed_query_equal_to_old_and_fresh(
    running_system: RunningSystem,
) -> None:
    system = running_system
    stub = system.projections_stub
    # A second process on the same store and consumer group, as a second pod would be.
    peer = await start_projections_service(
        system.settings, group_id=system.projections.read_models.group_id, retry=FAST_RETRY
    )
    strategy = await create(system, "Lead the European market", goals_pb2.GOAL_LEVEL_STRATEGY)
    goals = [
        await create(
            system,
            f"Win region {n}",
            goals_pb2.GOAL_LEVEL_COMPANY,
            strategy.goal.id,
            metric=metric(0, 10),
        )
        for n in range(4)
    ]
    tokens = [strategy.position_token, *(g.position_token for g in goals)]
    stop = asyncio.Event()
    answered = 0

    async def keep_checking_in() -> None:
        count = 0
        while not stop.is_set():
            goal = goals[count % len(goals)].goal
            response = await system.goals_stub.CheckIn(
                goals_pb2.CheckInRequest(
                    goal_id=goal.id, value=count % 10, confidence=0.8, note=f"week {count}"
                ),
                metadata=HR,
            )
            tokens.append(response.position_token)
            count += 1

    async def keep_querying() -> None:
        nonlocal answered
        while not stop.is_set():
            tree = await stub.GetAlignmentTree(
                projections_pb2.GetAlignmentTreeRequest(consistency_tokens=tokens[-1:]),
                metadata=HR,
            )
            assert tree.total_size == len(goals) + 1
            await stub.GetGoalHistory(
                projections_pb2.GetGoalHistoryRequest(goal_id=goals[0].goal.id), metadata=HR
            )
            answered += 1

    load = [asyncio.create_task(keep_checking_in()), asyncio.create_task(keep_querying())]
    try:
        started = await stub.StartRebuild(
            projections_pb2.StartRebuildRequest(read_model=projections_pb2.READ_MODEL_GOALS),
            metadata=OPERATIONS,
        )
        assert (started.live_version, started.building_version) == ("goals-v1", "goals-v2")
        assert started.partitions
        assert started.started_at
        switched = await live_after_rebuild(system, "goals-v2")
        assert switched.building_version == ""
        assert switched.progress == 1.0

        # The old version's consumer stopped, and its series are gone (metrics follow the live
        # version); the new one keeps applying what arrives.
        registry = system.projections.runtime.metrics.registry
        retired = {"projection": "goals-v1"}
        deadline = time.monotonic() + 30
        while registry.get_sample_value("northstar_events_applied_total", retired) is not None:
            assert time.monotonic() < deadline, "the retired version's series stayed"
            await asyncio.sleep(0.05)
        new_applied = applied(system, "goals-v2")
        while applied(system, "goals-v2") < new_applied + 3:
            assert time.monotonic() < deadline, "the new live version stopped applying events"
            await asyncio.sleep(0.05)
        assert registry.get_sample_value("northstar_events_applied_total", retired) is None
        await eventually(
            lambda: peer.read_models.live_name("goals") == "goals-v2",
            what="the peer process following the switch",
        )
    finally:
        stop.set()
        results = await asyncio.gather(*load, return_exceptions=True)
        await peer.runtime.stop()
        peer.db.close()
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert answered > 0

    await stub.GetAlignmentTree(
        projections_pb2.GetAlignmentTreeRequest(consistency_tokens=tokens), metadata=HR
    )
    rebuilt = await stub.GetContentHash(
        projections_pb2.GetContentHashRequest(read_model=projections_pb2.READ_MODEL_GOALS),
        metadata=OPERATIONS,
    )
    assert rebuilt.version == "goals-v2"
    # The replaced version, built live as the commands came, holds the same content once it
    # has applied the same events (its consumer stopped at the switch, the commands did not).
    await catch_up_retired(system, "goals-v1", tokens)
    replaced = await stub.GetContentHash(
        projections_pb2.GetContentHashRequest(
            read_model=projections_pb2.READ_MODEL_GOALS, version="goals-v1"
        ),
        metadata=OPERATIONS,
    )
    assert (replaced.sha256, replaced.row_count) == (rebuilt.sha256, rebuilt.row_count)
    await stub.StartRebuild(
        projections_pb2.StartRebuildRequest(read_model=projections_pb2.READ_MODEL_GOALS),
        metadata=OPERATIONS,
    )
    await live_after_rebuild(system, "goals-v3")
    fresh = await stub.GetContentHash(
        projections_pb2.GetContentHashRequest(
            read_model=projections_pb2.READ_MODEL_GOALS, version="goals-v3"
        ),
        metadata=OPERATIONS,
    )
    assert (fresh.sha256, fresh.row_count) == (rebuilt.sha256, rebuilt.row_count)
    assert fresh.row_count > len(tokens)

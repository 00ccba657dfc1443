"""Crashes of the processes around the read model (SIGKILL, no shutdown): the projections
process mid-batch, the goals process with its relay mid-load, one of two projection consumers
of a group, and the projections store deleted between runs. Each test prints what it killed,
what it checked and its figures."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2

from northstar.projections.v1 import projections_pb2, projections_pb2_grpc
from northstar_contracts.envelope import EventEnvelope
from services.shared.readmodel import ReadModelDatabase
from tests.builders import created, envelope, goal_event
from tests.fault.conftest import as_records, fault_settings, in_process_system, new_id, publish_raw
from tests.fault.harness import (
    OPERATOR,
    Acknowledged,
    ServiceProcess,
    command_load,
    lost_and_doubled,
    namespace,
    read_model_counts,
    report,
    service_env,
)
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.fault]

GOALS = projections_pb2.READ_MODEL_GOALS

ENTRIES = "goals_v1_audit_entries"


def goal_histories(goals: int, versions: int) -> list[EventEnvelope]:
    """`goals` goals of `versions` events each, interleaved as a busy producer sends them."""
    ids = [new_id() for _ in range(goals)]
    return [
        envelope(goal, v, created(f"Goal {n}") if v == 1 else renamed(f"{v}"))
        for v in range(1, versions + 1)
        for n, goal in enumerate(ids)
    ]


def renamed(title: str) -> tuple[str, dict[str, object]]:
    return goal_event("Renamed", title=title, by="hr-1")


def store_counts(data_dir: Path) -> dict[str, tuple[int, int]]:
    db = ReadModelDatabase(f"sqlite:///{data_dir / 'projections.db'}")
    try:
        return read_model_counts(db, ENTRIES)
    except Exception:  # not created yet
        return {}
    finally:
        db.close()


def complete(counts: dict[str, tuple[int, int]], events: list[EventEnvelope]) -> bool:
    expected: dict[str, int] = {}
    for e in events:
        expected[e.aggregate_id] = max(expected.get(e.aggregate_id, 0), e.aggregate_version)
    return all(counts.get(goal, (0, 0))[1] >= top for goal, top in expected.items())


def projections_process(kafka: str, ns: str, data_dir: Path, log: Path) -> ServiceProcess:
    return ServiceProcess("projections", service_env(kafka, ns, data_dir), log)


async def test_projections_killed_mid_batch_restart_to_the_content_of_a_fresh_rebuild(
    kafka_bootstrap_servers: str, tmp_path: Path
) -> None:
    """Kills the projections process (SIGKILL) while it applies a burst of 12,000 goal events
    (large enough that the kill lands mid-burst however fast batches apply);
    restarts it; checks its read model hashes the same as a fresh rebuild from offset 0."""
    ns, kafka = namespace(), kafka_bootstrap_servers
    events = goal_histories(1200, 10)
    await publish_raw(kafka, f"{ns}.goals.v1", as_records(events))
    service = projections_process(kafka, ns, tmp_path, tmp_path / "projections.log")
    service.start()
    try:
        await service.wait_serving()
        deadline = time.monotonic() + 60
        while service.metric("northstar_events_applied_total") == 0:
            assert time.monotonic() < deadline, "nothing applied within 60s"
            await asyncio.sleep(0.01)
        service.kill()
        applied_before_kill = sum(n for n, _ in store_counts(tmp_path).values())
        service.start()
        await service.wait_serving()
        await eventually(
            lambda: complete(store_counts(tmp_path), events),
            within_seconds=120,
            what="every event in the read model after the restart",
        )
        async with service.channel() as channel:
            stub = projections_pb2_grpc.ProjectionServiceStub(channel)
            await stub.StartRebuild(
                projections_pb2.StartRebuildRequest(read_model=GOALS),
                metadata=OPERATOR,
            )
            deadline = time.monotonic() + 120
            while True:
                status = await stub.GetRebuildStatus(
                    projections_pb2.GetRebuildStatusRequest(read_model=GOALS),
                    metadata=OPERATOR,
                )
                if status.live_version == "goals-v2":
                    break
                assert time.monotonic() < deadline, "the rebuild did not switch in"
                await asyncio.sleep(0.2)
            hashes = [
                await stub.GetContentHash(
                    projections_pb2.GetContentHashRequest(read_model=GOALS, version=v),
                    metadata=OPERATOR,
                )
                for v in ("goals-v1", "goals-v2")
            ]
        duplicates = service.metric("northstar_duplicates_skipped_total")
    finally:
        service.stop()
    counts = store_counts(tmp_path)
    lost = sum(1 for e in events if counts.get(e.aggregate_id, (0, 0))[1] < e.aggregate_version)
    report(
        "projections killed mid-batch",
        "the projections process (SIGKILL) after it applied its first batch",
        "the restarted read model's content hash equals a fresh rebuild's",
        events_published=len(events),
        entries_before_kill=applied_before_kill,
        events_lost=lost,
        duplicates_applied=lost_and_doubled_entries(counts),
        duplicates_skipped_after_restart=int(duplicates),
        rebuilt_hash_equal=hashes[0].sha256 == hashes[1].sha256,
    )
    assert 0 < applied_before_kill < len(events)  # the kill landed in the middle of the load
    assert lost == 0
    assert hashes[0].sha256 == hashes[1].sha256
    assert hashes[0].row_count == hashes[1].row_count > len(events)


def lost_and_doubled_entries(counts: dict[str, tuple[int, int]]) -> int:
    return sum(max(n - top, 0) for n, top in counts.values())


async def test_goals_killed_mid_load_loses_no_acknowledged_command_and_counts_duplicates(
    kafka_bootstrap_servers: str, tmp_path: Path
) -> None:
    """Kills the goals process and its relay (SIGKILL) a third of the way through a command
    load, restarts it; checks every acknowledged command's events are in the read model once."""
    ns, kafka = namespace(), kafka_bootstrap_servers
    settings = fault_settings(kafka, ns, tmp_path / "in-process")
    goals = ServiceProcess(
        "goals", service_env(kafka, ns, tmp_path / "goals"), tmp_path / "goals.log"
    )
    acknowledged = Acknowledged()
    async with in_process_system(settings, goals=False) as system:
        goals.start()
        await goals.wait_serving()

        async def crash_and_restart() -> None:
            goals.kill()
            goals.start()

        try:
            await command_load(
                lambda: f"127.0.0.1:{goals.grpc_port}",
                acknowledged,
                goals=16,
                check_ins=5,
                seconds=150,
                during=crash_and_restart,
            )
            assert system.projections is not None
            db = system.projections.db
            await eventually(
                lambda: lost_and_doubled(acknowledged, read_model_counts(db, ENTRIES))[0] == 0,
                within_seconds=90,
                what="every acknowledged command in the read model",
            )
        finally:
            goals.stop()
        lost, doubled = lost_and_doubled(acknowledged, read_model_counts(db, ENTRIES))
        metrics = system.projections.runtime.metrics.registry
        duplicates = metrics.get_sample_value(
            "northstar_duplicates_skipped_total", {"projection": "goals-v1"}
        )
    report(
        "goals killed mid-load",
        "the goals process and its relay (SIGKILL), then restarted",
        "every acknowledged command's events are in the read model exactly once",
        commands_acknowledged=acknowledged.commands,
        refused_and_retried=acknowledged.failures,
        events_lost=lost,
        duplicates_applied=doubled,
        duplicates_skipped=int(duplicates or 0),
    )
    assert (lost, doubled) == (0, 0)


async def test_one_of_two_consumers_killed_the_rebalance_loses_and_doubles_nothing(
    kafka_bootstrap_servers: str, tmp_path: Path
) -> None:
    """Runs two projections processes in one consumer group over one store, kills one
    (SIGKILL) while both consume; checks every event is applied exactly once by the survivor
    and the dead one together."""
    ns, kafka = namespace(), kafka_bootstrap_servers
    first_wave, second_wave = goal_histories(200, 5), goal_histories(200, 5)
    consumers = [
        projections_process(kafka, ns, tmp_path, tmp_path / f"projections-{n}.log") for n in (1, 2)
    ]
    for consumer in consumers:
        consumer.start()
    try:
        for consumer in consumers:
            await consumer.wait_serving()
        await publish_raw(kafka, f"{ns}.goals.v1", as_records(first_wave))
        await eventually(
            lambda: all(c.metric("northstar_events_applied_total") > 0 for c in consumers),
            within_seconds=60,
            what="both consumers applying",
        )
        consumers[0].kill()
        await publish_raw(kafka, f"{ns}.goals.v1", as_records(second_wave))
        await eventually(
            lambda: complete(store_counts(tmp_path), first_wave + second_wave),
            within_seconds=120,
            what="the survivor applying every event",
        )
        survivor_duplicates = consumers[1].metric("northstar_duplicates_skipped_total")
    finally:
        for consumer in consumers:
            consumer.stop()
    counts = store_counts(tmp_path)
    events = first_wave + second_wave
    lost = sum(1 for e in events if counts.get(e.aggregate_id, (0, 0))[1] < e.aggregate_version)
    doubled = lost_and_doubled_entries(counts)
    report(
        "one of two consumers killed",
        "one of two projections processes of one group (SIGKILL)",
        "after the rebalance every event is in the read model exactly once",
        events_published=len(events),
        events_lost=lost,
        duplicates_applied=doubled,
        duplicates_skipped_by_survivor=int(survivor_duplicates),
    )
    assert (lost, doubled) == (0, 0)
    assert sum(n for n, _ in counts.values()) == len(events)


async def test_a_deleted_store_is_rebuilt_before_the_service_reports_serving(
    kafka_bootstrap_servers: str, tmp_path: Path
) -> None:
    """Stops the projections process, deletes its store (the group's offsets stay in Kafka),
    starts it again; checks that the first SERVING health answer comes with a complete model."""
    ns, kafka = namespace(), kafka_bootstrap_servers
    events = goal_histories(300, 6)
    await publish_raw(kafka, f"{ns}.goals.v1", as_records(events))
    data_dir = tmp_path / "data"
    service = projections_process(kafka, ns, data_dir, tmp_path / "projections.log")
    service.start()
    try:
        await service.wait_serving()
        await eventually(
            lambda: complete(store_counts(data_dir), events),
            within_seconds=60,
            what="the first run applying every event",
        )
        service.stop()
        shutil.rmtree(data_dir)
        service.start()
        deadline = time.monotonic() + 120
        while await service.health() != health_pb2.HealthCheckResponse.SERVING:
            assert time.monotonic() < deadline, "never served"
            await asyncio.sleep(0.05)
        at_first_serving = store_counts(data_dir)
        catch_up = service.metric("northstar_read_model_catch_up_ratio", {"read_model": "goals"})
    finally:
        service.stop()
    entries = sum(n for n, _ in at_first_serving.values())
    report(
        "store deleted between runs",
        "nothing (the store file was deleted while stopped)",
        "the first SERVING answer comes with every event in the read model",
        events_published=len(events),
        entries_when_serving=entries,
        events_lost=len(events) - entries,
        catch_up_ratio=catch_up,
    )
    assert complete(at_first_serving, events)
    assert entries == len(events)
    assert catch_up == 1.0

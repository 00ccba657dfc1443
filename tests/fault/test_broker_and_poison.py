"""Kafka failing under command load (one broker SIGKILLed and restarted; one of a three-broker
KRaft cluster killed), and poison sequences on the real broker: every acknowledged command
reaches the read model exactly once; poison ends parked or dead-lettered, and an operator's
retry or skip completes each aggregate with a verifying chain."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest
from aiokafka import AIOKafkaConsumer

from devstack.kafka import LocalKafka, LocalKafkaCluster
from northstar.projections.v1 import projections_pb2, projections_pb2_grpc
from northstar_contracts.hris import hris_inbound_topic
from northstar_contracts.kpi import measurements_inbound_topic
from services.shared.sequencing import HoldLimits
from services.shared.settings import topic_for
from tests.builders import created, envelope, goal_event
from tests.fault.conftest import as_records, fault_settings, in_process_system, new_id, publish_raw
from tests.fault.harness import (
    HR,
    OPERATOR,
    Acknowledged,
    command_load,
    lost_and_doubled,
    namespace,
    read_model_counts,
    report,
)
from tests.fault.replication import (
    PartitionState,
    create_topics,
    describe,
    leaderless_without,
    partition_states,
    wait_until_fully_in_sync,
)
from tests.integration.conftest import bearer
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.fault]

GOALS = projections_pb2.READ_MODEL_GOALS

ENTRIES = "goals_v1_audit_entries"


async def _load_with_fault(
    kafka: str,
    tmp_path: Path,
    fault: object,
    *,
    goals: int = 16,
    check_ins: int = 5,
    ns: str | None = None,
) -> tuple[Acknowledged, int, int, int]:
    settings = fault_settings(kafka, ns or namespace(), tmp_path / "data")
    acknowledged = Acknowledged()
    async with in_process_system(settings) as system:
        assert system.projections is not None
        await command_load(
            lambda: system.goals_address,
            acknowledged,
            goals=goals,
            check_ins=check_ins,
            seconds=150,
            during=fault,  # type: ignore[arg-type]
        )
        db = system.projections.db
        try:
            await eventually(
                lambda: lost_and_doubled(acknowledged, read_model_counts(db, ENTRIES))[0] == 0,
                within_seconds=120,
                what="every acknowledged command in the read model",
                detail=lambda: (
                    f"{lost_and_doubled(acknowledged, read_model_counts(db, ENTRIES))[0]} of "
                    f"{acknowledged.events} acknowledged events missing"
                ),
            )
        except AssertionError as waited:
            states = await partition_states(kafka)
            ours = settings.topic_namespace + "."
            unhealthy = [s for s in states if s.topic.startswith(ours) and not s.fully_in_sync]
            raise AssertionError(f"{waited}; Kafka's partitions: {describe(unhealthy)}") from None
        lost, doubled = lost_and_doubled(acknowledged, read_model_counts(db, ENTRIES))
        duplicates = system.projections.runtime.metrics.registry.get_sample_value(
            "northstar_duplicates_skipped_total", {"projection": "goals-v1"}
        )
    return acknowledged, lost, doubled, int(duplicates or 0)


async def test_the_broker_killed_and_restarted_under_load_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    """Kills the only Kafka broker (SIGKILL) a third of the way through a command load and
    restarts it 2 s later; checks every acknowledged command is in the read model, once."""
    broker = LocalKafka(heap="512m").start()
    try:

        async def crash_and_restart() -> None:
            await asyncio.to_thread(broker.kill)
            await asyncio.sleep(2.0)
            await asyncio.to_thread(broker.start)

        acknowledged, lost, doubled, duplicates = await _load_with_fault(
            broker.bootstrap_servers, tmp_path, crash_and_restart
        )
    finally:
        broker.stop()
    report(
        "broker killed and restarted",
        "the Kafka broker (SIGKILL), restarted after 2 s",
        "every acknowledged command is in the read model exactly once",
        commands_acknowledged=acknowledged.commands,
        events_acknowledged=acknowledged.events,
        events_lost=lost,
        duplicates_applied=doubled,
        duplicates_skipped=duplicates,
    )
    assert (lost, doubled) == (0, 0)


# Above its waits' own limits (cluster start, system start, load 150 s, drain 120 s), so a
# failing wait reports what it saw instead of pytest's timeout cutting it short.
@pytest.mark.timeout(480)
async def test_one_broker_of_three_killed_under_load_loses_no_acknowledged_event(
    tmp_path: Path,
) -> None:
    """Runs a three-broker KRaft cluster (replication 3, min.insync.replicas 2), kills one
    broker (SIGKILL) a third of the way through a command load; checks nothing is lost.

    The topics are created replicated three times, as the deployment declares them (else the
    first client to ask may create one with a single replica, on the broker then killed). The
    kill waits until every partition of the cluster has all three replicas in sync: "one
    broker of three may die" holds for a healthy cluster. A partition whose in-sync replicas
    have shrunk to the victim alone has no replica left that may lead it (unclean election is
    off): that is the loss of more than one broker, which this cluster is not meant to survive.
    """
    ns = namespace()
    topics = [
        *(topic_for(service, ns) for service in ("directory", "goals", "kpi", "feedback")),
        hris_inbound_topic(ns),
        measurements_inbound_topic(ns),
    ]
    killed_while: list[PartitionState] = []
    with LocalKafkaCluster(3) as cluster:
        bootstrap = cluster.bootstrap_servers
        victim = cluster.nodes[1]
        await create_topics(bootstrap, topics, partitions=3, replication=3)

        async def crash_one() -> None:
            states = await wait_until_fully_in_sync(
                bootstrap, [*topics, "__consumer_offsets"], within_seconds=90
            )
            orphaned = leaderless_without(states, victim.node_id)
            assert not orphaned, f"no replica could lead {describe(orphaned)}"
            killed_while.extend(states)
            await asyncio.to_thread(victim.kill)

        acknowledged, lost, doubled, duplicates = await _load_with_fault(
            bootstrap, tmp_path, crash_one, ns=ns
        )
    report(
        "one broker of three killed",
        "broker 2 of a three-node KRaft cluster (SIGKILL), every partition fully in sync",
        "every acknowledged command is in the read model exactly once",
        partitions_in_sync_at_the_kill=len(killed_while),
        commands_acknowledged=acknowledged.commands,
        events_acknowledged=acknowledged.events,
        events_lost=lost,
        duplicates_applied=doubled,
        duplicates_skipped=duplicates,
    )
    assert (lost, doubled) == (0, 0)


def renamed(title: str) -> tuple[str, dict[str, object]]:
    return goal_event("Renamed", title=title, by="hr-1")


async def dead_letters(kafka: str, topic: str) -> list[dict[str, bytes]]:
    """The headers of every dead letter on `topic` so far."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
        return [dict(r.headers) for records in batches.values() for r in records]
    finally:
        await consumer.stop()


async def test_poison_sequences_end_parked_or_dead_lettered_and_operators_complete_them(
    kafka_bootstrap_servers: str, tmp_path: Path
) -> None:
    """Kills nothing; feeds poison to the goals topic: an undecodable record in a goal's
    history (later events then wait for the missing version), an unknown type at a goal's next
    version, a conflicting id at an applied version. Checks each ends dead-lettered (once, no
    retries) or parked, visible to operators; a republished event and a retry, and skips with
    reasons, complete every goal with a verifying chain; a rebuild dead-letters nothing again
    and reaches the same content."""
    kafka, ns = kafka_bootstrap_servers, namespace()
    settings = fault_settings(kafka, ns, tmp_path / "data")
    topic = f"{ns}.goals.v1"
    gap, stray_goal, conflict, healthy = new_id(), new_id(), new_id(), new_id()
    stray = envelope(stray_goal, 2, ("goals.GoalCheered", {"by": "x"})).model_copy(
        update={"id": str(uuid.uuid4())}
    )
    impostor = envelope(conflict, 2, renamed("Impostor")).model_copy(
        update={"id": str(uuid.uuid4())}
    )
    missing = envelope(gap, 2, renamed("Two"))
    records = [
        *as_records([envelope(gap, 1, created("Gap"))]),
        (gap.encode(), b"\x00 not an envelope"),
        *as_records([envelope(gap, v, renamed(f"{v}")) for v in (3, 4)]),
        *as_records([envelope(stray_goal, 1, created("Stray")), stray]),
        *as_records(
            [envelope(stray_goal, 2, renamed("Real")), envelope(stray_goal, 3, renamed("3"))]
        ),
        *as_records([envelope(conflict, 1, created("C")), envelope(conflict, 2, renamed("2"))]),
        *as_records([impostor, envelope(conflict, 3, renamed("3"))]),
        *as_records(
            [envelope(healthy, v, created("H") if v == 1 else renamed(f"{v}")) for v in (1, 2, 3)]
        ),
    ]
    await publish_raw(kafka, topic, records)
    limits = HoldLimits(max_held=100, max_hold_seconds=1.0)
    async with in_process_system(settings, goals=False, hold_limits=limits) as system:
        assert system.projections is not None
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{system.projections.runtime.grpc_port}")
        stub = projections_pb2_grpc.ProjectionServiceStub(channel)
        metrics = system.projections.runtime.metrics.registry

        async def parked() -> list[projections_pb2.ParkedEvent]:
            answer = await stub.ListParkedEvents(
                projections_pb2.ListParkedEventsRequest(read_model=GOALS, page_size=100),
                metadata=HR,
            )
            return list(answer.events)

        async def settled() -> bool:
            kinds = {(e.aggregate_id, e.kind) for e in await parked() if e.state == "parked"}
            return {(gap, "gap"), (stray_goal, "unknown type"), (conflict, "conflict")} <= kinds

        for _ in range(150):
            if await settled():
                break
            await asyncio.sleep(0.1)
        first_parked = await parked()
        parked_gauge = metrics.get_sample_value(
            "northstar_read_model_parked_events", {"read_model": "goals", "state": "parked"}
        )
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.RetryParkedEvents(
                projections_pb2.RetryParkedEventsRequest(read_model=GOALS, aggregate_id=gap),
                metadata=HR,
            )
        with pytest.raises(grpc.aio.AioRpcError) as no_reason:
            await stub.SkipParkedEvent(
                projections_pb2.SkipParkedEventRequest(
                    read_model=GOALS,
                    aggregate_id=stray_goal,
                    event_id=stray.id,
                ),
                metadata=OPERATOR,
            )

        # The fixes: the missing event republished (then a retry), the others skipped.
        await publish_raw(kafka, topic, as_records([missing]))
        for _ in range(100):
            if any(e.event_id == missing.id for e in await parked()):
                break
            await asyncio.sleep(0.1)
        retried = await stub.RetryParkedEvents(
            projections_pb2.RetryParkedEventsRequest(read_model=GOALS, aggregate_id=gap),
            metadata=OPERATOR,
        )
        for goal, event in ((stray_goal, stray), (conflict, impostor)):
            await stub.SkipParkedEvent(
                projections_pb2.SkipParkedEventRequest(
                    read_model=GOALS,
                    aggregate_id=goal,
                    event_id=event.id,
                    reason="not ours",
                ),
                metadata=OPERATOR,
            )
        auditor = bearer("auditor-1", ["auditor"])
        verified = {
            goal: await stub.VerifyHistory(
                projections_pb2.VerifyHistoryRequest(aggregate_id=goal), metadata=auditor
            )
            for goal in (gap, stray_goal, conflict, healthy)
        }
        left = await parked()
        dlq = await dead_letters(kafka, f"{topic}.dlq")

        await stub.StartRebuild(
            projections_pb2.StartRebuildRequest(read_model=GOALS),
            metadata=OPERATOR,
        )
        for _ in range(600):
            status = await stub.GetRebuildStatus(
                projections_pb2.GetRebuildStatusRequest(read_model=GOALS),
                metadata=OPERATOR,
            )
            if status.live_version == "goals-v2":
                break
            await asyncio.sleep(0.1)
        hashes = [
            (
                await stub.GetContentHash(
                    projections_pb2.GetContentHashRequest(read_model=GOALS, version=v),
                    metadata=OPERATOR,
                )
            ).sha256
            for v in ("goals-v1", "goals-v2")
        ]
        dlq_after_rebuild = await dead_letters(kafka, f"{topic}.dlq")
        for _ in range(100):  # the retired consumer stops just after the switch
            retired_series = metrics.get_sample_value(
                "northstar_events_applied_total", {"projection": "goals-v1"}
            )
            if retired_series is None:
                break
            await asyncio.sleep(0.1)
        live_info = metrics.get_sample_value(
            "northstar_read_model_live_info",
            {
                "read_model": "goals",
                "version": "goals-v2",
                "consumer_group": f"{ns}-projections.goals-v2",
            },
        )
        await channel.close(None)

    kinds = sorted((e.aggregate_id == gap, e.kind) for e in first_parked)
    report(
        "poison sequences",
        "nothing (poison injected into the goals topic)",
        "parked / dead-lettered as specified; retry and skips complete every goal",
        events_parked=len(first_parked),
        dead_lettered=len(dlq),
        dead_lettered_again_by_rebuild=len(dlq_after_rebuild) - len(dlq),
        applied_by_retry=retried.applied,
        still_parked=len(left),
        chains_intact=sum(v.intact for v in verified.values()),
        rebuilt_hash_equal=hashes[0] == hashes[1],
    )
    assert {e.state for e in first_parked} == {"parked"}
    assert {(e.aggregate_id, e.kind) for e in first_parked} == {
        (gap, "gap"),
        (gap, "behind"),
        (stray_goal, "unknown type"),
        (stray_goal, "behind"),
        (conflict, "conflict"),
        (conflict, "behind"),
    }, kinds
    assert parked_gauge == len(first_parked)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert no_reason.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [h["dlq_attempts"] for h in dlq] == [b"1"]
    assert retried.applied == 3  # versions 2, 3 and 4 of the goal that had a gap
    assert left == []
    assert all(v.intact for v in verified.values())
    assert [verified[g].entries_checked for g in (gap, stray_goal, conflict, healthy)] == [
        4,
        3,
        3,
        3,
    ]
    assert len(dlq_after_rebuild) == len(dlq)
    assert hashes[0] == hashes[1]
    assert retired_series is None  # the retired version's series are gone
    assert live_info == 1.0

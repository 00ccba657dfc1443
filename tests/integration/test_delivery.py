"""Delivery guarantees end to end on the real broker: relay crashes and poison messages."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from services.goals.application import GoalsApplication
from services.goals.metrics import Metric
from services.goals.publishing import goal_envelope
from services.projections.__main__ import start_projections_service
from services.projections.audit import load_entries, verify_chain
from services.projections.consistency import wait_for_positions
from services.shared.auth import Principal
from services.shared.consumer import dead_letter_topic
from services.shared.directory_replica import ReplicaPerson, ReplicaTeam
from services.shared.eventstore import persistence_env
from services.shared.metrics import ServiceMetrics
from services.shared.relay import NotificationRelay
from tests.integration.conftest import FAST_RETRY, RunningSystem, bearer, system_settings
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

HR = bearer("hr-1", ["hr_admin"])


class OwnerOneDirectory:
    """Just enough directory for goals of owner-1 in team-a (no Kafka feed in this test)."""

    def person(self, tenant_id: str, person_id: str) -> ReplicaPerson | None:
        if (tenant_id, person_id) != ("acme", "owner-1"):
            return None
        return ReplicaPerson(
            "owner-1", "Owner", "owner-1@acme.example", "", "team-a", "", "active", None, None
        )

    def team(self, tenant_id: str, team_id: str) -> ReplicaTeam | None:
        known = (tenant_id, team_id) == ("acme", "team-a")
        return ReplicaTeam("team-a", "Team A", "", "") if known else None

    def is_in_management_chain(self, tenant_id: str, manager_id: str, person_id: str) -> bool:
        return False

    def team_members(self, tenant_id: str, team_id: str) -> list[str]:
        return ["owner-1"] if (tenant_id, team_id) == ("acme", "team-a") else []


class CrashBeforeRecording(NotificationRelay):
    """Publishes, then dies before it can record its position."""

    def record_position(self, notification_id: int) -> None:
        raise RuntimeError("relay process killed")


def sample(metrics: ServiceMetrics, name: str, labels: dict[str, str]) -> float:
    return float(metrics.registry.get_sample_value(name, labels) or 0.0)


async def test_relay_crash_republishes_and_the_projection_skips_the_duplicates(
    store_url: str, tmp_path: Path, kafka_bootstrap_servers: str
) -> None:
    settings = system_settings(store_url, tmp_path, kafka_bootstrap_servers)
    goals_store = settings.store_url_for("goals")
    app = GoalsApplication(env=persistence_env("goals", goals_store), directory=OwnerOneDirectory())
    hr_admin = Principal(subject="hr-1", tenant_id="acme", roles=frozenset({"hr_admin"}))
    tokens = []
    for index in range(3):
        created = app.create_goal(
            hr_admin,
            title=f"Ship release {index} on time",
            description="",
            owner_id="owner-1",
            team_id="team-a",
            level="personal",
            start_date=date(2026, 1, 1),
            due_date=date(2026, 6, 30),
            metric=Metric("number", "increase", 0, 10),
            parent_goal_id=None,
            visibility="public",
            activate=True,
        )
        tokens.append(created.position_token)
    events_stored = app.recorder.max_notification_id() or 0

    def relay(cls: type[NotificationRelay]) -> NotificationRelay:
        return cls(
            name="goals-relay",
            app=app,
            topic=settings.topic_for("goals"),
            bootstrap_servers=kafka_bootstrap_servers,
            to_envelope=goal_envelope,
        )

    crashing = relay(CrashBeforeRecording)
    await crashing.start()
    with pytest.raises(RuntimeError, match="killed"):
        await crashing.publish_pending()
    await crashing.stop()

    restarted = relay(NotificationRelay)
    await restarted.start()
    assert await restarted.publish_pending() == events_stored
    await restarted.stop()
    assert restarted.lag() == 0

    projections = await start_projections_service(
        settings, group_id=f"p-{uuid.uuid4().hex[:8]}", retry=FAST_RETRY
    )
    try:
        await wait_for_positions(projections.db, "goals-v1", "acme", tokens, 30)
        metrics = projections.runtime.metrics
        labels = {"projection": "goals-v1"}
        await eventually(
            lambda: sample(metrics, "northstar_duplicates_skipped_total", labels) >= events_stored,
            what="every republished event skipped",
        )
        assert sample(metrics, "northstar_events_applied_total", labels) == events_stored
        assert sample(metrics, "northstar_duplicates_skipped_total", labels) == events_stored
        with projections.db.transaction() as tx:
            rows = tx.execute("SELECT aggregate_id, version FROM audit_entries")
            assert len(rows) == len(set(rows)) == events_stored
            for (aggregate_id,) in tx.execute("SELECT DISTINCT aggregate_id FROM audit_entries"):
                assert verify_chain(load_entries(tx, aggregate_id)).intact
    finally:
        await projections.runtime.stop()
        projections.db.close()


async def test_poison_message_is_dead_lettered_and_later_messages_still_apply(
    running_system: RunningSystem, kafka_bootstrap_servers: str
) -> None:
    system = running_system
    topic = system.settings.topic_for("goals")
    before = await create_goal(system, "Publish the quarterly plan")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        for partition in partitions:
            await producer.send_and_wait(
                topic, b"\x00not an envelope", key=b"poison", partition=partition
            )
    finally:
        await producer.stop()
    after = await create_goal(system, "Hire two engineers by June")

    history = await system.projections_stub.GetGoalHistory(
        projections_pb2.GetGoalHistoryRequest(
            goal_id=after.goal.id, consistency_tokens=[before.position_token, after.position_token]
        ),
        metadata=HR,
    )
    assert history.entries[0].event_type == "goals.GoalCreated"

    dead = await read_topic(kafka_bootstrap_servers, dead_letter_topic(topic), len(partitions))
    assert [record.value for record in dead] == [b"\x00not an envelope"] * len(partitions)
    headers = dict(dead[0].headers)
    assert headers["dlq_original_topic"] == topic.encode()
    assert headers["dlq_attempts"] == b"1"  # a record that does not decode is never retried
    assert headers["dlq_error_type"] == b"ContractViolation"
    assert headers["dlq_error"]
    metrics = system.projections.runtime.metrics
    assert sample(metrics, "northstar_dead_lettered_total", {"topic": topic}) == len(partitions)


async def create_goal(system: RunningSystem, title: str) -> goals_pb2.GoalCommandResponse:
    response: goals_pb2.GoalCommandResponse = await system.goals_stub.CreateGoal(
        goals_pb2.CreateGoalRequest(
            title=title,
            owner_id="owner-1",
            team_id="team-a",
            level=goals_pb2.GOAL_LEVEL_PERSONAL,
            start_date="2026-01-01",
            due_date="2026-12-31",
            activate=True,
        ),
        metadata=HR,
    )
    return response


async def read_topic(bootstrap: str, topic: str, expected: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(30):
            while len(records) < expected:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records

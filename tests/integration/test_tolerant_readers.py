"""Readers ignore what they do not know: an event from a newer producer, carrying a field this
release lacks in its envelope and in its data, is applied on real Kafka, not dead-lettered."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from aiokafka import AIOKafkaProducer

from northstar.projections.v1 import projections_pb2
from northstar_contracts import directory, goals
from northstar_contracts.envelope import EventEnvelope, envelope_id
from tests.integration.conftest import RunningSystem, bearer
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

AUDITOR = bearer("auditor-1", ["auditor"])
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def newer_producers_envelope(
    source: str, aggregate_type: str, type_name: str, data: dict[str, Any]
) -> bytes:
    """An envelope as a later release might send it: one unknown field at each level."""
    aggregate_id = str(uuid.uuid4())
    envelope = EventEnvelope.produce(
        id=envelope_id(aggregate_id, 1),
        type=type_name,
        schema_version=1,
        source=source,
        tenant_id="acme",
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        aggregate_version=1,
        sequence=1_000_000,
        occurred_at=NOW,
        actor_id="hr-1",
        data={**data, "added_in_a_later_release": {"nested": [1, 2]}},
    ).model_dump(mode="json")
    envelope["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    return json.dumps(envelope).encode()


async def test_events_with_unknown_fields_are_applied_by_every_reader(
    running_system: RunningSystem, kafka_bootstrap_servers: str
) -> None:
    system = running_system
    goal_event = newer_producers_envelope(
        goals.SOURCE,
        goals.AGGREGATE_TYPE,
        "goals.GoalCreated",
        {
            "tenant_id": "acme",
            "title": "Publish the public roadmap",
            "description": "",
            "owner_id": "owner-1",
            "team_id": "team-a",
            "level": "company",
            "start_date": "2026-10-01",
            "due_date": "2026-12-31",
            "metric": None,
            "parent_goal_id": None,
            "visibility": "public",
            "created_by": "owner-1",
            "measured_by_own_metric": False,
            "recurring": False,
            "template_id": None,
            "previous_goal_id": None,
        },
    )
    person_event = newer_producers_envelope(
        directory.SOURCE,
        "Person",
        "directory.PersonRegistered",
        {
            "tenant_id": "acme",
            "person_id": "late-joiner",
            "name": "Late Joiner",
            "email": "late@acme.example",
            "title": "",
            "team_id": "team-a",
            "manager_id": "manager-1",
            "employment_status": "active",
            "start_date": None,
            "leave_date": None,
            "effective_at": NOW.isoformat(),
        },
    )
    goal_id = json.loads(goal_event)["aggregate_id"]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            system.settings.topic_for("goals"), goal_event, key=goal_id.encode()
        )
        await producer.send_and_wait(system.settings.topic_for("directory"), person_event)
    finally:
        await producer.stop()

    history = await history_once_projected(system, goal_id)
    assert [entry.event_type for entry in history.entries] == ["goals.GoalCreated"]
    assert {change.field for change in history.entries[0].changes} >= {"title", "owner_id"}
    await eventually(
        lambda: system.goals.replica.person("acme", "late-joiner") is not None,
        what="the goals service's directory replica applying the newer PersonRegistered",
    )
    for service in (system.projections.runtime, system.goals.runtime):
        for topic in ("goals", "directory"):
            dead_lettered = service.metrics.registry.get_sample_value(
                "northstar_dead_lettered_total", {"topic": system.settings.topic_for(topic)}
            )
            assert not dead_lettered, f"{service.name} dead-lettered {topic} events"


async def history_once_projected(
    system: RunningSystem, goal_id: str, within_seconds: float = 30.0
) -> projections_pb2.GoalHistory:
    """The goal's history once the projections have it (NOT_FOUND until then)."""
    deadline = time.monotonic() + within_seconds
    while True:
        try:
            history: projections_pb2.GoalHistory = await system.projections_stub.GetGoalHistory(
                projections_pb2.GetGoalHistoryRequest(goal_id=goal_id), metadata=AUDITOR
            )
            return history
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)

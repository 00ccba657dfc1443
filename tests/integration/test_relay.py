"""The outbox relay on real Kafka and both stores: nothing lost, position moved only after acks."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from eventsourcing.domain import Aggregate, DomainEventProtocol, event
from eventsourcing.persistence import Notification

from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.registry import ContractRegistry, EventContract
from services.shared.eventstore import (
    CommandContext,
    NorthstarApplication,
    command_context,
    persistence_env,
)
from services.shared.relay import NotificationRelay, envelope_for

pytestmark = [pytest.mark.kafka]


TALLY_CONTRACTS = ContractRegistry()


@TALLY_CONTRACTS.register("tests.TallyStarted", version=1, topic="tests", aggregate_type="Tally")
@TALLY_CONTRACTS.register(
    "tests.TallyIncremented", version=1, topic="tests", aggregate_type="Tally"
)
class TallyEventV1(EventContract):
    """Tally events publish no data: these tests prove delivery, not contracts."""


class Tally(Aggregate):
    """A minimal aggregate, so these tests prove the relay alone."""

    @event("Started")
    def __init__(self, label: str) -> None:
        self.label = label
        self.count = 0

    @event("Incremented")
    def increment(self, by: str) -> None:
        self.count += 1


class TallyApp(NorthstarApplication):
    name = "tallies"


def tally_envelope(event: DomainEventProtocol[Any], notification: Notification) -> EventEnvelope:
    return envelope_for(
        event,
        notification,
        source="northstar/tests",
        aggregate_type="Tally",
        type_name=f"tests.Tally{type(event).__name__}",
        contracts=TALLY_CONTRACTS,
    )


class CrashBeforeRecording(NotificationRelay):
    """Publishes, then dies before it can record its position."""

    def record_position(self, notification_id: int) -> None:
        raise RuntimeError("relay process killed")


async def consume_all(bootstrap: str, topic: str, expected: int) -> list[EventEnvelope]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    received: list[EventEnvelope] = []
    try:
        async with asyncio.timeout(30):
            while len(received) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    received.extend(EventEnvelope.from_json_bytes(r.value) for r in records)
    finally:
        await consumer.stop()
    return received


def new_app(store_url: str) -> TallyApp:
    return TallyApp(env=persistence_env("tallies", store_url))


def save_tallies(app: TallyApp, how_many: int) -> list[uuid.UUID]:
    ids = []
    with command_context(CommandContext.new("acme", "person-1")):
        for index in range(how_many):
            tally = Tally(label=f"t{index}")
            tally.increment(by="person-1")
            app.save(tally)
            ids.append(tally.id)
    return ids


async def test_relay_publishes_every_event_with_its_metadata_and_tracks_position(
    store_url: str, kafka_bootstrap_servers: str
) -> None:
    topic = f"relay-{uuid.uuid4().hex}"
    app = new_app(store_url)
    ids = save_tallies(app, 3)
    relay = NotificationRelay(
        name="tallies-relay",
        app=app,
        topic=topic,
        bootstrap_servers=kafka_bootstrap_servers,
        to_envelope=tally_envelope,
    )
    await relay.start()
    try:
        assert await relay.publish_pending() == 6
        assert relay.lag() == 0
        assert await relay.publish_pending() == 0
    finally:
        await relay.stop()
    received = await consume_all(kafka_bootstrap_servers, topic, 6)
    assert sorted((e.aggregate_id, e.aggregate_version) for e in received) == sorted(
        (str(i), v) for i in ids for v in (1, 2)
    )
    assert {e.tenant_id for e in received} == {"acme"}
    assert {e.actor_id for e in received} == {"person-1"}
    assert len({e.correlation_id for e in received}) == 1
    per_aggregate: dict[str, list[int]] = {}
    for envelope in received:
        per_aggregate.setdefault(envelope.aggregate_id, []).append(envelope.aggregate_version)
    assert all(versions == [1, 2] for versions in per_aggregate.values())


async def test_relay_crash_before_recording_republishes_and_loses_nothing(
    store_url: str, kafka_bootstrap_servers: str
) -> None:
    topic = f"relay-{uuid.uuid4().hex}"
    app = new_app(store_url)
    save_tallies(app, 2)
    crashing = CrashBeforeRecording(
        name="tallies-relay",
        app=app,
        topic=topic,
        bootstrap_servers=kafka_bootstrap_servers,
        to_envelope=tally_envelope,
    )
    await crashing.start()
    try:
        with pytest.raises(RuntimeError, match="killed"):
            await crashing.publish_pending()
    finally:
        await crashing.stop()
    assert crashing.published_position() == 0

    restarted_app = new_app(store_url)
    save_tallies(restarted_app, 1)
    relay = NotificationRelay(
        name="tallies-relay",
        app=restarted_app,
        topic=topic,
        bootstrap_servers=kafka_bootstrap_servers,
        to_envelope=tally_envelope,
    )
    await relay.start()
    try:
        assert await relay.publish_pending() == 6
    finally:
        await relay.stop()
    received = await consume_all(kafka_bootstrap_servers, topic, 10)
    distinct = {(e.aggregate_id, e.aggregate_version) for e in received}
    assert len(received) == 10
    assert len(distinct) == 6
    assert relay.published_position() == restarted_app.recorder.max_notification_id()

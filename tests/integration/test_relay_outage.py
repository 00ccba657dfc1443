"""A broker outage on a real Kafka node of the test's own: the relay counts what is pending,
its health entry reports the stall, the Kafka client's reconnect lines are rate-limited, and
after the broker restarts on the same port everything is published and health recovers. A
service started while the broker is down serves commands, and publishes them in order, once,
when the broker comes up."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack.kafka import LocalKafka
from northstar.directory.v1 import directory_pb2, directory_pb2_grpc
from northstar_contracts.envelope import EventEnvelope
from services.directory.__main__ import start_directory_service
from services.shared.auth import DEFAULT_DEV_SECRET
from services.shared.eventstore import persistence_env
from services.shared.metrics import ServiceMetrics
from services.shared.relay import NotificationRelay
from services.shared.runtime import ServiceRuntime, relay_health_name
from services.shared.settings import ServiceSettings
from tests.integration.conftest import FAST_RETRY, bearer
from tests.integration.test_relay import TallyApp, consume_all, save_tallies, tally_envelope
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.fault]

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def own_broker() -> Iterator[LocalKafka]:
    """A broker only this test uses, so stopping it disturbs no other test."""
    with LocalKafka() as broker:
        yield broker


def gauge(metrics: ServiceMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


async def test_relay_reports_a_broker_outage_and_recovers_when_the_broker_returns(
    own_broker: LocalKafka, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    address = own_broker.bootstrap_servers
    settings = ServiceSettings(
        data_dir=tmp_path,
        kafka_bootstrap_servers=address,
        relay_stall_threshold_seconds=2.0,
        kafka_log_repeat_interval_seconds=60.0,
    )
    app = TallyApp(env=persistence_env("tallies", settings.store_url_for("tallies")))
    metrics = ServiceMetrics("tallies")
    topic = f"outage-{uuid.uuid4().hex}"
    relay = NotificationRelay(
        name="tallies-relay",
        app=app,
        topic=topic,
        bootstrap_servers=address,
        to_envelope=tally_envelope,
        metrics=metrics,
    )
    runtime = ServiceRuntime("tallies", settings, metrics)
    runtime.relays.append(relay)
    await runtime.start([], [])
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{runtime.grpc_port}")
    health = health_pb2_grpc.HealthStub(channel)

    async def relay_health() -> int:
        request = health_pb2.HealthCheckRequest(service=relay_health_name("tallies-relay"))
        status: int = (await health.Check(request)).status
        return status

    lag = "northstar_relay_lag_notifications"
    last_publish = "northstar_relay_last_publish_timestamp_seconds"
    try:
        save_tallies(app, 3)  # six events
        relay.wake()
        # Creating the topic may take longer than the threshold: wait for the watcher too.
        await eventually(
            lambda: relay.lag() == 0 and not relay.stalled, what="the first events published"
        )
        assert await relay_health() == SERVING
        published_at = gauge(metrics, last_publish)
        assert published_at > 0

        own_broker.kill()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="aiokafka"):
            save_tallies(app, 25)  # fifty events while the broker is down
            relay.wake()
            await eventually(
                lambda: gauge(metrics, lag) == 50 and relay.stalled,
                within_seconds=60,
                what="the lag gauge counting the pending events and the stall noted",
            )
            assert await relay_health() == NOT_SERVING
            assert gauge(metrics, last_publish) == published_at
            await eventually(
                lambda: any(r.name.startswith("aiokafka") for r in caplog.records),
                within_seconds=60,
                what="the Kafka client reporting the lost connection",
            )
            kafka_lines = [(r.name, r.msg) for r in caplog.records if r.name.startswith("aiokafka")]
        # One line of each kind of reconnect failure per interval, however often it retried.
        assert len(kafka_lines) == len(set(kafka_lines)), kafka_lines

        own_broker.start()
        assert own_broker.bootstrap_servers == address  # same port: clients reconnect
        await eventually(
            lambda: relay.lag() == 0 and not relay.stalled,
            within_seconds=120,
            what="the relay publishing the backlog after the broker returned",
        )
        assert await relay_health() == SERVING
        assert gauge(metrics, lag) == 0
        assert gauge(metrics, last_publish) > published_at
        received = await consume_all(address, topic, 56)
        assert len({(e.aggregate_id, e.aggregate_version) for e in received}) == 56
    finally:
        await channel.close(None)
        await runtime.stop()


async def read_whole_topic(bootstrap: str, topic: str) -> list[list[EventEnvelope]]:
    """Every record of `topic` up to its end: one list per partition, in offset order."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        await eventually(lambda: bool(consumer.assignment()), what="the topic's partitions")
        partitions = sorted(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        records: dict[TopicPartition, list[EventEnvelope]] = {p: [] for p in partitions}
        async with asyncio.timeout(30):
            while [p for p in partitions if await consumer.position(p) < ends[p]]:
                for partition, batch in (await consumer.getmany(timeout_ms=500)).items():
                    records[partition].extend(EventEnvelope.from_json_bytes(r.value) for r in batch)
    finally:
        await consumer.stop()
    return list(records.values())


async def test_a_service_started_while_kafka_is_down_serves_and_publishes_once_it_is_up(
    own_broker: LocalKafka, tmp_path: Path
) -> None:
    address = own_broker.bootstrap_servers
    own_broker.kill()
    settings = ServiceSettings(
        data_dir=tmp_path,
        kafka_bootstrap_servers=address,
        topic_namespace=f"test{uuid.uuid4().hex[:12]}",
        jwt_dev_secret=DEFAULT_DEV_SECRET,
        relay_stall_threshold_seconds=2.0,
    )
    directory = await start_directory_service(settings, retry=FAST_RETRY)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{directory.runtime.grpc_port}")
    stub = directory_pb2_grpc.DirectoryServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    hr = bearer("hr-1", ["hr_admin"])
    relay_entry = health_pb2.HealthCheckRequest(service=relay_health_name("directory-relay"))
    metrics, recorder = directory.runtime.metrics, directory.app.recorder
    try:
        await stub.UpsertTeam(
            directory_pb2.UpsertTeamRequest(team_id="ops", name="Ops"), metadata=hr
        )
        for n in range(10):
            await stub.UpsertPerson(
                directory_pb2.UpsertPersonRequest(
                    person_id=f"p-{n}",
                    name=f"Person {n}",
                    email=f"p{n}@acme.example",
                    team_id="ops",
                ),
                metadata=hr,
            )
        stored = recorder.select_notifications(0, 1000)
        assert len(stored) == 11
        await eventually(
            lambda: (
                gauge(metrics, "northstar_relay_lag_notifications") == 11
                and directory.relay.stalled
            ),
            within_seconds=60,
            what="the lag gauge counting the pending events and the stall noted",
        )
        assert (await health.Check(relay_entry)).status == NOT_SERVING
        assert gauge(metrics, "northstar_relay_last_publish_timestamp_seconds") == 0

        own_broker.start()
        assert own_broker.bootstrap_servers == address
        await eventually(
            lambda: directory.relay.lag() == 0 and not directory.relay.stalled,
            within_seconds=120,
            what="the relay publishing what was stored while the broker was down",
        )
        assert (await health.Check(relay_entry)).status == SERVING
        assert gauge(metrics, "northstar_relay_last_publish_timestamp_seconds") > 0
        partitions = await read_whole_topic(address, settings.topic_for("directory"))
        published = [envelope for partition in partitions for envelope in partition]
        # Exactly once each, and in the order stored within each partition (an aggregate's
        # events share one partition).
        assert sorted(e.sequence for e in published) == [n.id for n in stored]
        for partition in partitions:
            sequences = [e.sequence for e in partition]
            assert sequences == sorted(sequences)
        # The directory's own replica (a consumer that could not start at boot) catches up.
        await eventually(
            lambda: directory.replica.person("acme", "p-9") is not None,
            within_seconds=120,
            what="the replica's consumer started once the broker answered",
        )
    finally:
        await channel.close(None)
        await directory.stop()

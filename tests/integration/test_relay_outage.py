"""A broker outage on a real Kafka node of the test's own: the relay counts what is pending,
its health entry reports the stall, the Kafka client's reconnect lines are rate-limited, and
after the broker restarts on the same port everything is published and health recovers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack.kafka import LocalKafka
from services.shared.eventstore import persistence_env
from services.shared.metrics import ServiceMetrics
from services.shared.relay import NotificationRelay
from services.shared.runtime import ServiceRuntime, relay_health_name
from services.shared.settings import ServiceSettings
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

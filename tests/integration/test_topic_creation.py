"""Topics are the deployment's to declare: a service's consumer never creates one itself.

FastStream, left to its default, creates every missing subscribed topic through the admin client
with one partition and one replica, whatever the cluster's settings, and it does so before the
broker's own auto-creation (which follows `num.partitions` and `default.replication.factor`)
can. On a replicated cluster such a topic is lost with its one broker."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.admin import AIOKafkaAdminClient

from services.shared.runtime import kafka_broker, stop_broker

# devstack's broker: num.partitions=3 with auto.create.topics.enable=true (devstack/kafka.py).
BROKER_DEFAULT_PARTITIONS = 3


async def _partitions_of(bootstrap_servers: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return len(described[0]["partitions"]) if described and not described[0]["error_code"] else 0


async def test_a_consumer_on_a_missing_topic_leaves_its_creation_to_the_cluster(
    kafka_bootstrap_servers: str,
) -> None:
    topic = f"missing-{uuid.uuid4().hex}"
    broker = kafka_broker(kafka_bootstrap_servers, "topic-creation-test")

    @broker.subscriber(topic, group_id=uuid.uuid4().hex, auto_offset_reset="earliest")
    async def handle(body: bytes) -> None:
        del body

    await broker.start()
    try:
        # The consumer's metadata request lets the broker create the topic its own way.
        partitions = 0
        for _ in range(150):
            partitions = await _partitions_of(kafka_bootstrap_servers, topic)
            if partitions:
                break
            await asyncio.sleep(0.2)
    finally:
        await stop_broker(broker)
    assert partitions == BROKER_DEFAULT_PARTITIONS

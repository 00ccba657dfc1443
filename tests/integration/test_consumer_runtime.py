"""The consumer runtime on the real broker: order, restarts, rebalances, store outages."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from services.shared.consumer import EventConsumer, RetryPolicy
from services.shared.envelope import EventEnvelope, envelope_id
from services.shared.metrics import ServiceMetrics
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

FAST = RetryPolicy(attempts=3, first_backoff_seconds=0.01, max_backoff_seconds=0.05)


def envelope(aggregate_id: str, version: int) -> EventEnvelope:
    return EventEnvelope(
        id=envelope_id(aggregate_id, version),
        type="tests.Counted",
        schema_version=1,
        source="northstar/tests",
        tenant_id="acme",
        aggregate_type="Counter",
        aggregate_id=aggregate_id,
        aggregate_version=version,
        sequence=version,
        occurred_at=datetime.now(UTC),
        actor_id="p1",
        data={"n": version},
    )


async def publish(bootstrap: str, topic: str, envelopes: list[EventEnvelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for item in envelopes:
            await producer.send(topic, item.to_json_bytes(), key=item.kafka_key())
        await producer.flush()
    finally:
        await producer.stop()


async def start_consumer(
    bootstrap: str,
    topic: str,
    group: str,
    apply: Callable[[EventEnvelope], Awaitable[bool]],
) -> tuple[KafkaBroker, ServiceMetrics]:
    broker = KafkaBroker(bootstrap)
    metrics = ServiceMetrics("tests")
    EventConsumer(
        broker=broker,
        name="counter",
        topics=[topic],
        group_id=group,
        apply=apply,
        metrics=metrics,
        retry=FAST,
    )
    await broker.start()
    return broker, metrics


def count(metrics: ServiceMetrics, name: str, labels: dict[str, str]) -> float:
    return float(metrics.registry.get_sample_value(name, labels) or 0.0)


async def test_events_of_one_aggregate_are_applied_in_order(kafka_bootstrap_servers: str) -> None:
    topic, group = f"order-{uuid.uuid4().hex}", uuid.uuid4().hex
    events = [envelope(f"agg-{n % 3}", n // 3 + 1) for n in range(60)]
    await publish(kafka_bootstrap_servers, topic, events)
    seen: dict[str, list[int]] = {}

    async def apply(item: EventEnvelope) -> bool:
        seen.setdefault(item.aggregate_id, []).append(item.aggregate_version)
        return True

    broker, _ = await start_consumer(kafka_bootstrap_servers, topic, group, apply)
    try:
        await eventually(lambda: sum(map(len, seen.values())) == 60, what="all applied")
    finally:
        await broker.stop()
    assert all(versions == list(range(1, 21)) for versions in seen.values())


async def test_a_restarted_consumer_resumes_after_its_last_acknowledged_message(
    kafka_bootstrap_servers: str,
) -> None:
    topic, group = f"restart-{uuid.uuid4().hex}", uuid.uuid4().hex
    await publish(kafka_bootstrap_servers, topic, [envelope("a", v) for v in range(1, 6)])
    first_run: list[int] = []

    async def apply_first(item: EventEnvelope) -> bool:
        first_run.append(item.aggregate_version)
        return True

    broker, _ = await start_consumer(kafka_bootstrap_servers, topic, group, apply_first)
    await eventually(lambda: len(first_run) == 5, what="first run applied")
    await broker.stop()

    await publish(kafka_bootstrap_servers, topic, [envelope("a", v) for v in range(6, 9)])
    second_run: list[int] = []

    async def apply_second(item: EventEnvelope) -> bool:
        second_run.append(item.aggregate_version)
        return True

    broker, _ = await start_consumer(kafka_bootstrap_servers, topic, group, apply_second)
    try:
        await eventually(lambda: len(second_run) == 3, what="second run applied")
    finally:
        await broker.stop()
    assert second_run == [6, 7, 8]


async def test_a_store_outage_holds_the_message_and_never_dead_letters_it(
    kafka_bootstrap_servers: str,
) -> None:
    topic, group = f"outage-{uuid.uuid4().hex}", uuid.uuid4().hex
    await publish(kafka_bootstrap_servers, topic, [envelope("a", 1), envelope("a", 2)])
    failures_left = FAST.attempts * 3
    applied: list[int] = []

    async def apply(item: EventEnvelope) -> bool:
        nonlocal failures_left
        if failures_left:
            failures_left -= 1
            raise sqlite3.OperationalError("database is locked")
        applied.append(item.aggregate_version)
        return True

    broker, metrics = await start_consumer(kafka_bootstrap_servers, topic, group, apply)
    try:
        await eventually(lambda: applied == [1, 2], what="both applied after the outage")
    finally:
        await broker.stop()
    assert count(metrics, "northstar_dead_lettered_total", {"topic": topic}) == 0
    assert count(metrics, "northstar_consumer_retries_total", {"topic": topic}) >= FAST.attempts * 3


async def test_a_second_consumer_in_the_group_takes_partitions_and_nothing_is_lost(
    kafka_bootstrap_servers: str,
) -> None:
    topic, group = f"rebalance-{uuid.uuid4().hex}", uuid.uuid4().hex
    applied: dict[tuple[str, int], list[str]] = {}

    def recorder(who: str) -> Callable[[EventEnvelope], Awaitable[bool]]:
        async def apply(item: EventEnvelope) -> bool:
            applied.setdefault((item.aggregate_id, item.aggregate_version), []).append(who)
            return True

        return apply

    await publish(kafka_bootstrap_servers, topic, [envelope(f"k{n}", 1) for n in range(30)])
    first, _ = await start_consumer(kafka_bootstrap_servers, topic, group, recorder("first"))
    await eventually(lambda: len(applied) == 30, what="first batch applied")
    second, _ = await start_consumer(kafka_bootstrap_servers, topic, group, recorder("second"))
    try:
        await publish(kafka_bootstrap_servers, topic, [envelope(f"k{n}", 2) for n in range(30)])
        await eventually(lambda: len(applied) == 60, what="second batch applied", within_seconds=60)
    finally:
        await second.stop()
        await first.stop()
    consumers_used: set[Any] = {who for whos in applied.values() for who in whos}
    assert consumers_used == {"first", "second"}


async def test_a_message_with_undecodable_headers_is_dead_lettered_not_skipped(
    kafka_bootstrap_servers: str,
) -> None:
    topic, group = f"headers-{uuid.uuid4().hex}", uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, b"garbage", key=b"a", partition=0, headers=[("ce_type", b"\xff\xfe")]
        )
        good = envelope("a", 1)
        await producer.send_and_wait(topic, good.to_json_bytes(), key=b"a", partition=0)
    finally:
        await producer.stop()
    applied: list[int] = []

    async def apply(item: EventEnvelope) -> bool:
        applied.append(item.aggregate_version)
        return True

    broker, metrics = await start_consumer(kafka_bootstrap_servers, topic, group, apply)
    try:
        await eventually(lambda: applied == [1], what="the good message applied")
        await eventually(
            lambda: count(metrics, "northstar_dead_lettered_total", {"topic": topic}) == 1,
            what="the bad message dead-lettered",
        )
    finally:
        await broker.stop()

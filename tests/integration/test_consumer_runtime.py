"""The consumer runtime on the real broker: order, restarts, rebalances, store outages, and the
batches it applies: one call for many records, failures isolated, commits only of work done."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaConnectionError
from faststream.kafka import KafkaBroker

from northstar_contracts.envelope import EventEnvelope, envelope_id
from services.shared.consumer import EventConsumer, RetryPolicy, dead_letter_topic
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
    *,
    graceful_timeout: float | None = 15.0,
) -> tuple[KafkaBroker, ServiceMetrics]:
    broker = KafkaBroker(bootstrap, graceful_timeout=graceful_timeout)
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


# ---- batches ----


class VersionsProjection:
    """A read model of aggregate versions with a projection's two entry points: `apply` one
    event, `apply_batch` several, all or none; both skip versions already applied."""

    def __init__(
        self, failing: frozenset[tuple[str, int]] = frozenset(), store_failures: int = 0
    ) -> None:
        self.failing = failing
        self.store_failures = store_failures
        self.versions: dict[str, int] = {}
        self.applied: list[tuple[str, int]] = []
        self.batch_sizes: list[int] = []
        self.single_calls = 0

    async def apply(self, item: EventEnvelope) -> bool:
        self.single_calls += 1
        self._store_outage()
        return self._apply_all([item])[0]

    async def apply_batch(self, items: list[EventEnvelope]) -> list[bool]:
        self.batch_sizes.append(len(items))
        self._store_outage()
        return self._apply_all(items)

    def _store_outage(self) -> None:
        if self.store_failures:
            self.store_failures -= 1
            raise sqlite3.OperationalError("database is locked")

    def _apply_all(self, items: Sequence[EventEnvelope]) -> list[bool]:
        versions, applied, results = dict(self.versions), list(self.applied), []
        for item in items:
            key = (item.aggregate_id, item.aggregate_version)
            if key in self.failing:
                raise ValueError(f"cannot apply {key}")
            if versions.get(item.aggregate_id, 0) >= item.aggregate_version:
                results.append(False)
                continue
            versions[item.aggregate_id] = item.aggregate_version
            applied.append(key)
            results.append(True)
        self.versions, self.applied = versions, applied  # all or nothing, like a transaction
        return results


def versions_of(projection: VersionsProjection, aggregate_id: str) -> list[int]:
    return [version for applied_id, version in projection.applied if applied_id == aggregate_id]


def lag_samples(metrics: ServiceMetrics, topic: str) -> list[float]:
    return [
        sample.value
        for metric in metrics.registry.collect()
        for sample in metric.samples
        if sample.name == "northstar_consumer_lag_messages" and sample.labels["topic"] == topic
    ]


async def read_records(bootstrap: str, topic: str, expected: int) -> list[ConsumerRecord[Any, Any]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    try:
        async with asyncio.timeout(30):
            while len(records) < expected:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def test_a_backlog_is_applied_through_apply_batch_many_records_per_call_in_order(
    kafka_bootstrap_servers: str,
) -> None:
    topic, group = f"backlog-{uuid.uuid4().hex}", uuid.uuid4().hex
    await publish(
        kafka_bootstrap_servers, topic, [envelope(f"agg-{n % 4}", n // 4 + 1) for n in range(200)]
    )
    projection = VersionsProjection()

    # Only `apply` is passed, as the projections service does: its `apply_batch` is found.
    broker, metrics = await start_consumer(kafka_bootstrap_servers, topic, group, projection.apply)
    try:
        await eventually(lambda: len(projection.applied) == 200, what="the backlog applied")
        await eventually(
            lambda: bool(lag_samples(metrics, topic)) and not any(lag_samples(metrics, topic)),
            what="no lag left",
        )
    finally:
        await broker.stop()
    assert all(versions_of(projection, f"agg-{n}") == list(range(1, 51)) for n in range(4))
    assert projection.single_calls == 0
    assert max(projection.batch_sizes) > 1
    labels = {"projection": "counter"}
    assert count(metrics, "northstar_events_applied_total", labels) == 200
    assert count(metrics, "northstar_duplicates_skipped_total", labels) == 0


async def test_a_failing_event_in_a_batch_is_dead_lettered_and_the_rest_apply_in_order(
    kafka_bootstrap_servers: str,
) -> None:
    topic, group = f"batch-poison-{uuid.uuid4().hex}", uuid.uuid4().hex
    events = [envelope("a", version) for version in range(1, 7)]
    await publish(kafka_bootstrap_servers, topic, events)
    projection = VersionsProjection(failing=frozenset({("a", 3)}))

    broker, metrics = await start_consumer(kafka_bootstrap_servers, topic, group, projection.apply)
    try:
        await eventually(lambda: len(projection.applied) == 5, what="the others applied")
        dead = await read_records(kafka_bootstrap_servers, dead_letter_topic(topic), 1)
    finally:
        await broker.stop()
    assert versions_of(projection, "a") == [1, 2, 4, 5, 6]
    assert [record.value for record in dead] == [events[2].to_json_bytes()]
    headers = dict(dead[0].headers)
    assert headers["dlq_original_topic"] == topic.encode()
    assert headers["dlq_original_offset"] == b"2"
    assert headers["dlq_consumer"] == b"counter"
    assert headers["dlq_attempts"] == str(FAST.attempts).encode()
    assert headers["dlq_error_type"] == b"ValueError"
    assert count(metrics, "northstar_dead_lettered_total", {"topic": topic}) == 1
    assert count(metrics, "northstar_consumer_retries_total", {"topic": topic}) == FAST.attempts - 1


async def test_a_store_outage_during_a_batch_holds_it_and_never_dead_letters(
    kafka_bootstrap_servers: str,
) -> None:
    topic, group = f"batch-outage-{uuid.uuid4().hex}", uuid.uuid4().hex
    await publish(kafka_bootstrap_servers, topic, [envelope("a", v) for v in range(1, 5)])
    projection = VersionsProjection(store_failures=FAST.attempts * 3)

    broker, metrics = await start_consumer(kafka_bootstrap_servers, topic, group, projection.apply)
    try:
        await eventually(lambda: len(projection.applied) == 4, what="applied after the outage")
    finally:
        await broker.stop()
    assert versions_of(projection, "a") == [1, 2, 3, 4]
    assert projection.single_calls == 0
    assert count(metrics, "northstar_dead_lettered_total", {"topic": topic}) == 0
    assert count(metrics, "northstar_consumer_retries_total", {"topic": topic}) >= FAST.attempts * 3


async def test_when_dead_lettering_fails_the_consumer_resumes_at_that_record_and_reapplies_nothing(
    kafka_bootstrap_servers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic, group = f"dlq-down-{uuid.uuid4().hex}", uuid.uuid4().hex
    projection = VersionsProjection(failing=frozenset({("a", 3)}))
    broker, metrics = await start_consumer(kafka_bootstrap_servers, topic, group, projection.apply)
    publish_to_broker = broker.publish
    dead_letter_attempts = 0

    async def broker_down_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal dead_letter_attempts
        dead_letter_attempts += 1
        if dead_letter_attempts == 1:
            raise KafkaConnectionError("broker unreachable")
        return await publish_to_broker(*args, **kwargs)

    monkeypatch.setattr(broker, "publish", broker_down_once)
    await publish(kafka_bootstrap_servers, topic, [envelope("a", v) for v in range(1, 6)])
    try:
        await eventually(lambda: len(projection.applied) == 4, what="the others applied")
        await eventually(
            lambda: count(metrics, "northstar_dead_lettered_total", {"topic": topic}) == 1,
            what="dead-lettered on the second try",
        )
    finally:
        await broker.stop()
    assert versions_of(projection, "a") == [1, 2, 4, 5]
    assert dead_letter_attempts == 2
    # The rewind went back to the unprocessed record only: nothing came back as a duplicate.
    labels = {"projection": "counter"}
    assert count(metrics, "northstar_duplicates_skipped_total", labels) == 0


async def test_a_consumer_stopped_in_the_middle_of_a_batch_commits_none_of_what_it_left(
    kafka_bootstrap_servers: str,
) -> None:
    topic, group = f"mid-batch-{uuid.uuid4().hex}", uuid.uuid4().hex
    await publish(kafka_bootstrap_servers, topic, [envelope("a", v) for v in range(1, 6)])
    first_run: list[int] = []
    stuck = asyncio.Event()

    async def apply_until_eight(item: EventEnvelope) -> bool:
        if item.aggregate_version == 8:
            stuck.set()
            await asyncio.Event().wait()  # the process dies here, mid-batch
        first_run.append(item.aggregate_version)
        return True

    broker, _ = await start_consumer(
        kafka_bootstrap_servers, topic, group, apply_until_eight, graceful_timeout=None
    )
    try:
        await eventually(lambda: first_run == [1, 2, 3, 4, 5], what="first batch applied")
        await publish(kafka_bootstrap_servers, topic, [envelope("a", v) for v in range(6, 11)])
        await eventually(stuck.is_set, what="stuck at version 8")
    finally:
        await broker.stop()
    second_run: list[int] = []

    async def apply_second(item: EventEnvelope) -> bool:
        second_run.append(item.aggregate_version)
        return True

    broker, _ = await start_consumer(kafka_bootstrap_servers, topic, group, apply_second)
    try:
        await eventually(lambda: bool(second_run) and second_run[-1] == 10, what="the rest")
    finally:
        await broker.stop()
    # Resumed after the last commit: past the first batch, never past the stuck record.
    assert 6 <= second_run[0] <= 8
    assert second_run == list(range(second_run[0], 11))


async def test_a_record_with_undecodable_headers_is_applied_with_the_rest_of_its_batch(
    kafka_bootstrap_servers: str,
) -> None:
    topic, group = f"batch-headers-{uuid.uuid4().hex}", uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for version in (1, 2, 3):
            headers = [("ce_type", b"\xff\xfe")] if version == 2 else []
            await producer.send(
                topic, envelope("a", version).to_json_bytes(), key=b"a", headers=headers
            )
        await producer.flush()
    finally:
        await producer.stop()
    projection = VersionsProjection()

    broker, _ = await start_consumer(kafka_bootstrap_servers, topic, group, projection.apply)
    try:
        await eventually(lambda: len(projection.applied) == 3, what="all three applied")
    finally:
        await broker.stop()
    assert versions_of(projection, "a") == [1, 2, 3]


async def test_a_schema_bug_is_dead_lettered_after_retries_not_held_forever(
    kafka_bootstrap_servers: str,
) -> None:
    topic, group = f"schema-bug-{uuid.uuid4().hex}", uuid.uuid4().hex
    await publish(kafka_bootstrap_servers, topic, [envelope("a", 1), envelope("b", 1)])
    applied: list[str] = []

    async def apply(item: EventEnvelope) -> bool:
        if item.aggregate_id == "a":
            raise sqlite3.OperationalError("no such table: goals_v9_audit_entries")
        applied.append(item.aggregate_id)
        return True

    broker, metrics = await start_consumer(kafka_bootstrap_servers, topic, group, apply)
    try:
        await eventually(
            lambda: count(metrics, "northstar_dead_lettered_total", {"topic": topic}) == 1,
            what="the record hitting the bug dead-lettered",
        )
        await eventually(lambda: applied == ["b"], what="the next record applied")
    finally:
        await broker.stop()

"""Event pipeline throughput: the outbox relay against a bare idempotent producer, and the goals
projection against a bare consumer, on the same broker, payloads and keys."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.report import Measurement, median
from bench.workload import BenchEnvironment, create_topics, new_namespace, service_banners_to_stderr
from services.goals.application import GoalsApplication
from services.goals.publishing import goal_envelope
from services.projections.__main__ import start_projections_service
from services.projections.goals_projection import GOALS_PROJECTION
from services.shared.consumer import MAX_BATCH_RECORDS
from services.shared.metrics import ServiceMetrics
from services.shared.relay import NotificationRelay
from services.shared.settings import topic_for

# The relay's own producer settings, so the baseline differs only by what the relay adds.
RELAY_LINGER_MS = 2
APPLY_DEADLINE_SECONDS = 600.0
POLL_SECONDS = 0.005
WARM_UP_EVENTS = 500


@dataclass(frozen=True)
class WireMessage:
    value: bytes
    key: bytes
    headers: list[tuple[str, bytes]]


class WarmableRelay(NotificationRelay):
    """The service's relay, able to fetch its topic's metadata before the clock starts."""

    async def warm_up(self) -> None:
        await self._require_producer().partitions_for(self.topic)


def wire_messages(app: GoalsApplication, count: int) -> list[WireMessage]:
    """The exact bytes the relay sends for the stored events: value, key and headers."""
    messages = []
    for notification in app.recorder.select_notifications(0, count, inclusive_of_start=False):
        envelope = goal_envelope(app.mapper.to_domain_event(notification), notification)
        messages.append(
            WireMessage(envelope.to_json_bytes(), envelope.kafka_key(), envelope.kafka_headers())
        )
    return messages


async def relay_throughput(env: BenchEnvironment) -> list[Measurement]:
    """The relay over a SQLite event store, then over a PostgreSQL one holding the same goal
    events, each against the bare producer sending the SQLite log's bytes."""
    bootstrap = env.require_kafka()
    events = env.sizes.events
    messages = wire_messages(env.event_log(), events)
    measurements = []
    for store in ("SQLite", "PostgreSQL"):
        app = env.event_log() if store == "SQLite" else env.postgres_event_log()
        # One untimed round first: cold code paths and connections would only add noise.
        rounds = env.sizes.relay_repeats + 1
        namespaces = [new_namespace("relay") for _ in range(rounds)]
        baseline_topics = [topic_for("goals", new_namespace("raw")) for _ in range(rounds)]
        topics = [topic_for("goals", ns) for ns in namespaces] + baseline_topics
        await create_topics(bootstrap, topics)
        ours_seconds, baseline_seconds = [], []
        # Interleaved, so a burst of load from other tenants of the machine hits both sides.
        for namespace, baseline_topic in zip(namespaces, baseline_topics, strict=True):
            baseline_seconds.append(await _time_raw_producer(bootstrap, baseline_topic, messages))
            ours_seconds.append(await _time_relay(bootstrap, app, namespace, events))
            if store == "SQLite":
                env.published_namespaces.append(namespace)
        warm_up_seconds = {"ours": ours_seconds.pop(0), "baseline": baseline_seconds.pop(0)}
        ours, baseline = events / median(ours_seconds), events / median(baseline_seconds)
        measurements.append(
            Measurement(
                benchmark="relay_throughput",
                figure="publish rate" + ("" if store == "SQLite" else ", PostgreSQL"),
                unit="events/s",
                baseline=baseline,
                ours=ours,
                better="higher",
                meaning=(
                    f"the outbox relay publishes {events:,} goal events stored on {store} at"
                    f" {ours / baseline:.0%} of a bare idempotent acks=all producer sending"
                    " the same bytes"
                ),
                details={
                    "events": events,
                    "ours_seconds": ours_seconds,
                    "baseline_seconds": baseline_seconds,
                    "untimed_warm_up_seconds": warm_up_seconds,
                    "mean_payload_bytes": sum(len(m.value) for m in messages) / len(messages),
                },
            )
        )
    return measurements


async def _time_relay(bootstrap: str, app: GoalsApplication, namespace: str, events: int) -> float:
    # A relay of a new name starts at position 0: it publishes the whole log again.
    relay = WarmableRelay(
        name=f"{namespace}-relay",
        app=app,
        topic=topic_for("goals", namespace),
        bootstrap_servers=bootstrap,
        to_envelope=goal_envelope,
        metrics=ServiceMetrics("goals"),
    )
    await relay.start()
    try:
        await relay.warm_up()
        started = time.perf_counter()
        published = await relay.publish_pending()
        elapsed = time.perf_counter() - started
    finally:
        await relay.stop()
    if published != events:
        raise RuntimeError(f"the relay published {published} events, not {events}")
    return elapsed


async def _time_raw_producer(bootstrap: str, topic: str, messages: list[WireMessage]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=RELAY_LINGER_MS,
    )
    await producer.start()
    try:
        await producer.partitions_for(topic)
        started = time.perf_counter()
        deliveries = [
            await producer.send(topic, value=m.value, key=m.key, headers=m.headers)
            for m in messages
        ]
        await asyncio.gather(*deliveries)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def published_namespace(env: BenchEnvironment) -> str:
    """A topic namespace holding the whole event log (published untimed when none exists)."""
    if not env.published_namespaces:
        namespace = new_namespace("relay")
        await create_topics(env.require_kafka(), [topic_for("goals", namespace)])
        await _time_relay(env.require_kafka(), env.event_log(), namespace, env.sizes.events)
        env.published_namespaces.append(namespace)
    return env.published_namespaces[0]


async def projection_apply_throughput(env: BenchEnvironment) -> list[Measurement]:
    """The goals projection on SQLite, then on PostgreSQL, each run beside a bare consumer
    (alternated): whole runs (start and group join included) and their steady state (from
    the first event applied, or received, to the last)."""
    bootstrap = env.require_kafka()
    namespace = await published_namespace(env)
    topic = topic_for("goals", namespace)
    events = env.sizes.events
    await _warm_up_consumers(env)
    measurements = []
    for store in ("SQLite", "PostgreSQL"):
        ours_runs, baseline_runs = [], []
        for repeat in range(env.sizes.projection_repeats):
            baseline_runs.append(await time_raw_consumer_run(bootstrap, topic, events))
            store_url = env.new_postgres_url() if store == "PostgreSQL" else ""
            folder = f"projections-{store}-{repeat}"
            ours_runs.append(await time_projection(env, namespace, folder, events, store_url))
        measurements.extend(_apply_measurements(store, events, ours_runs, baseline_runs))
    return measurements


def _apply_measurements(
    store: str, events: int, ours_runs: list[ProjectionRun], baseline_runs: list[ProjectionRun]
) -> list[Measurement]:
    ours_seconds = [run.total_seconds for run in ours_runs]
    baseline_seconds = [run.total_seconds for run in baseline_runs]
    ours, baseline = events / median(ours_seconds), events / median(baseline_seconds)
    # Steady state: the second half of the events, over the time from the moment the first
    # half was applied (received) to the last: start, group join and first fetch excluded.
    ours_steady = [run.total_seconds - run.half_seconds for run in ours_runs]
    baseline_steady = [run.total_seconds - run.half_seconds for run in baseline_runs]
    second_half = events - events // 2
    return [
        Measurement(
            benchmark="projection_apply_throughput",
            figure=f"apply rate, {store}",
            unit="events/s",
            baseline=baseline,
            ours=ours,
            better="higher",
            meaning=(
                f"the goals projection on {store} applies {events:,} events (audit + alignment"
                " + dedup marker; batches of up to 500 in one transaction and one offset commit)"
                f" at {ours / baseline:.1%} of a consumer that only reads them"
            ),
            details={
                "events": events,
                "ours_seconds": ours_seconds,
                "ours_seconds_to_first_event": [run.first_event_seconds for run in ours_runs],
                "baseline_seconds": baseline_seconds,
                "timed_from": "consumer start (group join included on both sides)",
            },
        ),
        Measurement(
            benchmark="projection_apply_throughput",
            figure=f"steady apply rate, {store}",
            unit="events/s",
            baseline=second_half / median(baseline_steady),
            ours=second_half / median(ours_steady),
            better="higher",
            meaning=(
                f"the same runs' second half, from the moment half the events were applied"
                f" (received) to the last, on {store}: start and group join excluded"
            ),
            details={"ours_seconds": ours_steady, "baseline_seconds": baseline_steady},
        ),
    ]


async def _warm_up_consumers(env: BenchEnvironment) -> None:
    """Both sides consume a short slice of the log once, untimed, from a topic of its own."""
    bootstrap = env.require_kafka()
    messages = wire_messages(env.event_log(), min(WARM_UP_EVENTS, env.sizes.events))
    namespace = new_namespace("warmup")
    topic = topic_for("goals", namespace)
    await create_topics(bootstrap, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for message in messages:
            await producer.send(
                topic, value=message.value, key=message.key, headers=message.headers
            )
        await producer.flush()
    finally:
        await producer.stop()
    await time_raw_consumer(bootstrap, topic, len(messages))
    await time_projection(env, namespace, "projections-warm-up", len(messages))


@dataclass(frozen=True)
class ProjectionRun:
    total_seconds: float
    first_event_seconds: float
    half_seconds: float = 0.0
    """When half the events were applied (received), from the start."""


async def time_projection(
    env: BenchEnvironment, namespace: str, folder: str, events: int, store_url: str = ""
) -> ProjectionRun:
    """Starts the projections service in-process and times it until `events` are applied.
    The counter is watched from the start call on: the read models consume while the rest of
    the service starts, so waiting for the start to return would miss the first events."""
    settings = env.settings(namespace, folder, store_url)
    metrics = ServiceMetrics("projections")
    started = time.perf_counter()
    watching = asyncio.create_task(_wait_for_each(metrics, [1, events // 2, events]))
    try:
        with service_banners_to_stderr():
            service = await start_projections_service(
                settings, group_id=f"bench-projections-{uuid.uuid4().hex[:8]}", metrics=metrics
            )
    except BaseException:
        watching.cancel()
        raise
    try:
        first_event, half, finished = await watching
    finally:
        await service.runtime.stop()
        service.db.close()
    return ProjectionRun(finished - started, first_event - started, half - started)


async def _wait_for_each(metrics: ServiceMetrics, counts: list[int]) -> list[float]:
    return [await _wait_for_applied(metrics, count) for count in counts]


def applied_events(metrics: ServiceMetrics, projection: str) -> float | None:
    """The applied-events counter of one projection. Read from that metric alone: collecting
    the whole registry every poll (the process collector reads /proc) slowed the service."""
    for family in metrics.events_applied_total.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("projection") == projection:
                return sample.value
    return None


async def _wait_for_applied(metrics: ServiceMetrics, count: int) -> float:
    """Polls the applied-events counter; returns the perf_counter time it reached `count`."""
    deadline = time.perf_counter() + APPLY_DEADLINE_SECONDS
    while True:
        applied = applied_events(metrics, GOALS_PROJECTION)
        now = time.perf_counter()
        if applied is not None and applied >= count:
            return now
        if now > deadline:
            raise TimeoutError(f"the projection applied {applied} of {count} events in time")
        await asyncio.sleep(POLL_SECONDS)


async def time_raw_consumer(bootstrap: str, topic: str, events: int) -> float:
    """A consumer in a group of its own reading the topic from offset 0 to `events` records."""
    return (await time_raw_consumer_run(bootstrap, topic, events)).total_seconds


async def time_raw_consumer_run(bootstrap: str, topic: str, events: int) -> ProjectionRun:
    """`time_raw_consumer`, also timing its first record (the baseline's steady state)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    started = time.perf_counter()
    first = half = 0.0
    await consumer.start()
    try:
        received = 0
        async with asyncio.timeout(APPLY_DEADLINE_SECONDS):
            while received < events:
                # At most a batch of the projection's size per call, so both halves are timed
                # at the same granularity.
                batches = await consumer.getmany(timeout_ms=100, max_records=MAX_BATCH_RECORDS)
                count = sum(len(records) for records in batches.values())
                now = time.perf_counter() - started
                if count and not received:
                    first = now
                if received < events // 2 <= received + count:
                    half = now
                received += count
        return ProjectionRun(time.perf_counter() - started, first, half)
    finally:
        await consumer.stop()

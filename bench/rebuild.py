"""Rebuild of a large topic: a goals projection with an empty store reads the whole topic from
offset 0 (what a rebuild into a new version does), against a bare consumer of the same topic.

The topic is filled untimed with copies of the seeded event log, each copy's goals given new
ids (the ids are replaced in the very bytes: value, key and headers), so every copy is a
history of its own goals and nothing is a duplicate."""

from __future__ import annotations

import asyncio
import itertools
import sys
import uuid
from collections.abc import Iterator

from aiokafka import AIOKafkaProducer

from bench.pipeline import WireMessage, time_projection, time_raw_consumer_run, wire_messages
from bench.report import Measurement
from bench.workload import BenchEnvironment, create_topics, new_namespace
from services.shared.settings import topic_for

IN_FLIGHT = 5_000
"""Sends awaited together while the topic is filled."""


def copies_of(messages: list[WireMessage], count: int) -> Iterator[WireMessage]:
    """`count` messages: the log again and again, each time with new goal ids (made as they
    are sent: a million messages are not held in memory)."""
    made = 0
    while made < count:
        renamed = {key: uuid.uuid4().hex.encode() for key in {m.key for m in messages}}
        for message in messages[: count - made]:
            yield _renamed(message, renamed)
        made += min(len(messages), count - made)


def _renamed(message: WireMessage, renamed: dict[bytes, bytes]) -> WireMessage:
    old_key = message.key
    new_id = _dashed(renamed[old_key]) if b"-" in old_key else renamed[old_key]

    def swap(data: bytes) -> bytes:
        return data.replace(old_key, new_id)

    return WireMessage(
        swap(message.value), new_id, [(name, swap(value)) for name, value in message.headers]
    )


def _dashed(hex_id: bytes) -> bytes:
    text = hex_id.decode()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}".encode()


async def fill_topic(bootstrap: str, topic: str, messages: Iterator[WireMessage]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=1_048_576
    )
    await producer.start()
    try:
        while chunk := list(itertools.islice(messages, IN_FLIGHT)):
            deliveries = [
                await producer.send(topic, value=m.value, key=m.key, headers=m.headers)
                for m in chunk
            ]
            await asyncio.gather(*deliveries)
    finally:
        await producer.stop()


async def rebuild_throughput(env: BenchEnvironment) -> list[Measurement]:
    bootstrap = env.require_kafka()
    events = env.sizes.rebuild_events
    namespace = new_namespace("rebuild")
    topic = topic_for("goals", namespace)
    await create_topics(bootstrap, [topic])
    print(f"filling {topic} with {events:,} events ...", file=sys.stderr, flush=True)
    log = wire_messages(env.event_log(), env.sizes.events)
    await fill_topic(bootstrap, topic, copies_of(log, events))
    baseline = await time_raw_consumer_run(bootstrap, topic, events)
    ours = await time_projection(env, namespace, "rebuild", events)
    return [
        Measurement(
            benchmark="rebuild_throughput",
            figure="rebuild rate, SQLite",
            unit="events/s",
            baseline=events / baseline.total_seconds,
            ours=events / ours.total_seconds,
            better="higher",
            meaning=(
                f"an empty goals read model (SQLite) applies a {events:,}-event topic from"
                f" offset 0 at {events / ours.total_seconds:,.0f} events/s, against a bare"
                " consumer reading it"
            ),
            details={
                "events": events,
                "ours_seconds": ours.total_seconds,
                "ours_seconds_to_first_event": ours.first_event_seconds,
                "baseline_seconds": baseline.total_seconds,
            },
        )
    ]

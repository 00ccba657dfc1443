"""A start that finds the read-model store behind its consumer group heals before serving.

The store records the offsets it consumed in the transaction that writes its rows, and the
consumers resume from those (services/shared/consumer.py), so a lost store (file deleted, new
empty database) is replayed from offset 0 and a restored one from where it stood. Without
waiting, the service would answer from an empty or old model while Kafka's committed offsets
say it is current; so the service waits here, logging progress and exporting it as
`northstar_read_model_catch_up_ratio`, before gRPC reports SERVING.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from services.projections.kafka_progress import OffsetProbe
from services.projections.live_metrics import LiveMetrics
from services.shared.readmodel import ReadModelDatabase, consumed_offsets

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.2
PROBE_SECONDS = 60.0
LOG_EVERY_SECONDS = 5.0


def _stored(db: ReadModelDatabase, version: str) -> dict[TopicPartition, int]:
    return {TopicPartition(t, p): o for (t, p), o in consumed_offsets(db, version).items()}


async def behind_partitions(
    db: ReadModelDatabase, probe: OffsetProbe, version: str, group_id: str, topics: tuple[str, ...]
) -> dict[TopicPartition, tuple[int, int]]:
    """(stored, committed) offsets of each partition where the store is behind the group.
    Kafka's transient answers (a group's coordinator not elected yet) are retried for up to
    PROBE_SECONDS; a start that cannot compare fails rather than serve unchecked."""
    deadline = time.monotonic() + PROBE_SECONDS
    while True:
        try:
            ends = await probe.end_offsets(topics)
            committed = await probe.committed(group_id, ends)
            break
        except KafkaError as error:
            if time.monotonic() > deadline:
                raise
            logger.warning("%s: reading the group's offsets failed (%r); retrying", version, error)
            await asyncio.sleep(POLL_SECONDS * 5)
    stored = await asyncio.to_thread(_stored, db, version)
    return {
        tp: (stored.get(tp, 0), offset)
        for tp, offset in committed.items()
        if stored.get(tp, 0) < offset
    }


async def heal_before_serving(
    db: ReadModelDatabase,
    probe: OffsetProbe,
    metrics: LiveMetrics,
    *,
    read_model: str,
    version: str,
    topics: tuple[str, ...],
    behind: dict[TopicPartition, tuple[int, int]],
) -> None:
    """Waits (the consumer is running) until the store has consumed up to the end offsets."""
    ends = await probe.end_offsets(topics)
    missing = sum(committed - stored for stored, committed in behind.values())
    logger.warning(
        "%s: the read-model store is behind its consumer group on %d partitions (%d messages "
        "the group committed are not in the store); replaying from the store's own positions "
        "before serving",
        version,
        len(behind),
        missing,
    )
    started = last_log = time.monotonic()
    total = sum(ends.values()) or 1
    while True:
        stored = await asyncio.to_thread(_stored, db, version)
        done = sum(min(stored.get(tp, 0), end) for tp, end in ends.items())
        metrics.catch_up.labels(read_model=read_model).set(done / total)
        if done >= sum(ends.values()):
            break
        if time.monotonic() - last_log >= LOG_EVERY_SECONDS:
            last_log = time.monotonic()
            logger.info("%s: replayed %d of %d messages", version, done, total)
        await asyncio.sleep(POLL_SECONDS)
    metrics.catch_up.labels(read_model=read_model).set(1.0)
    logger.warning(
        "%s: the store caught up (%d messages) in %.1fs; serving",
        version,
        total,
        time.monotonic() - started,
    )

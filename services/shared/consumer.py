"""Consumer runtime on FastStream: ordered, idempotent, at-least-once, never stuck on poison.

- Records arrive in batches (up to `max_batch_records`) and are processed in record order, so
  per-partition order is kept. The batch's offsets are committed once, after every record in it
  was applied (its read-model transaction committed) or dead-lettered: a commit never covers an
  unprocessed record. FastStream's default, ACK_FIRST, would be at-most-once.
- A consumer whose `apply` comes with an `apply_batch` (all-or-nothing, one transaction) applies
  runs of records in one call; when a run fails, its records are applied one by one instead, so
  the failing one is isolated and the others still apply, in order.
- A record that does not decode (not an envelope, malformed) is sent to `<topic>.dlq` at once,
  with the error in its headers: retrying cannot help. A failing apply is retried with
  exponential backoff a bounded number of times, then dead-lettered, and consumption carries on
  (errors listed as permanent are dead-lettered at once). A store outage is retried until the
  store answers, never dead-lettered.
- A consumer given a `ledger` (a read model's `SequencedLedger`, services/shared/sequencing.py)
  hands it whole batches instead: the ledger applies, holds or parks each event per aggregate
  and records the consumed offsets in the read model's own transaction. Its store is then the
  truth for positions: on every partition assignment the consumer seeks to the offsets the
  store recorded (offset 0 when it recorded none, so a lost store is rebuilt from the start),
  not to the group's committed offsets. A record that does not decode is dead-lettered once
  per read model: its position is recorded, so a rebuild does not dead-letter it again.
- Bodies are Northstar envelopes by default; `decode` lets a consumer read another format (e.g.
  the inbound HRIS records) with the same guarantees.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import Consumer, KafkaMessage

from northstar_contracts.envelope import EventEnvelope
from services.shared.canonical import utc_now
from services.shared.metrics import ServiceMetrics
from services.shared.parking import Delivery
from services.shared.readmodel import consumed_offsets
from services.shared.readmodel import store_unavailable as store_unavailable
from services.shared.sequencing import Outcome, SequencedLedger

logger = logging.getLogger(__name__)

DEAD_LETTER_SUFFIX = ".dlq"
MAX_BATCH_RECORDS = 500
BATCH_TIMEOUT_MS = 20
"""How long an idle consumer waits for records; a busy one gets them as soon as they are fetched."""
Record: TypeAlias = "ConsumerRecord[Any, Any]"

ApplyEnvelope = Callable[[EventEnvelope], Awaitable[bool]]
"""Applies one event; returns False when it was a duplicate (already applied)."""

ApplyMessage = Callable[[Any], Awaitable[bool]]
"""Applies one decoded message (an EventEnvelope unless `decode` says otherwise)."""

ApplyBatch = Callable[[list[Any]], Awaitable[list[bool]]]
"""Applies several decoded messages in order, all or none (one transaction); one bool each."""

DecodeBody = Callable[[bytes | None], Any]
"""Turns a message body into what `apply` takes; raises (e.g. InvalidArgument) when it cannot."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    first_backoff_seconds: float = 0.05
    max_backoff_seconds: float = 2.0

    def backoff_seconds(self, failed_attempts: int) -> float:
        return float(
            min(self.first_backoff_seconds * 2 ** (failed_attempts - 1), self.max_backoff_seconds)
        )


def dead_letter_topic(topic: str) -> str:
    return topic + DEAD_LETTER_SUFFIX


class EventConsumer:
    """Subscribes `apply` to `topics` on `broker` with the guarantees above.

    `apply_batch` defaults to the `apply_batch` of the object `apply` is a method of, if it has
    one: a projection offers both, and its callers need only pass `apply`.
    """

    def __init__(
        self,
        *,
        broker: KafkaBroker,
        name: str,
        topics: Sequence[str],
        group_id: str,
        apply: ApplyEnvelope | ApplyMessage,
        metrics: ServiceMetrics,
        retry: RetryPolicy | None = None,
        decode: DecodeBody = EventEnvelope.from_json_bytes,
        permanent_errors: tuple[type[Exception], ...] = (),
        apply_batch: ApplyBatch | None = None,
        max_batch_records: int = MAX_BATCH_RECORDS,
        ledger: SequencedLedger | None = None,
    ) -> None:
        self.broker = broker
        self.name = name
        self.topics = tuple(topics)
        self.group_id = group_id
        self.apply = apply
        self.apply_batch = apply_batch or _batch_entry_point(apply)
        self.metrics = metrics
        self.retry = retry or RetryPolicy()
        self.decode = decode
        self.permanent_errors = permanent_errors
        self.ledger = ledger
        self.subscriber = broker.subscriber(
            *self.topics,
            group_id=group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            batch=True,
            max_records=max_batch_records,
            batch_timeout_ms=BATCH_TIMEOUT_MS,
            parser=_tolerant_parse,
            decoder=_raw_bodies,
            listener=_StorePositions(self) if ledger is not None else None,
        )
        self.subscriber(self._on_batch if ledger is None else self._on_sequenced_batch)
        # Export every series from the start, so dashboards and alerts see zeros, not gaps.
        metrics.events_applied_total.labels(projection=name)
        metrics.duplicates_skipped_total.labels(projection=name)
        if ledger is not None:
            metrics.events_held_total.labels(projection=name)
        for topic in self.topics:
            metrics.dead_lettered_total.labels(topic=topic)
            metrics.consumer_retries_total.labels(topic=topic)

    async def _on_batch(self, message: KafkaMessage, consumer: Consumer) -> None:
        records: tuple[Record, ...] = tuple(message.raw_message)
        processed = await self._process_in_order(records)
        if processed < len(records):
            # Rewind to the first unprocessed record of each partition, so none is lost or
            # skipped, and commit what was done, so nothing already applied is applied again.
            _rewind(consumer, records[processed:])
        await self._commit(consumer, records[:processed])
        if processed < len(records):
            await asyncio.sleep(self.retry.max_backoff_seconds)

    async def _on_sequenced_batch(self, message: KafkaMessage, consumer: Consumer) -> None:
        """The whole batch goes to the ledger in one transaction with its offsets; nothing is
        committed (and the partitions are rewound) unless that transaction committed."""
        assert self.ledger is not None
        records: tuple[Record, ...] = tuple(message.raw_message)
        deliveries = [self._delivery(record) for record in records]
        try:
            await self._dead_letter_undecodable(records, deliveries)
            outcome = await self._consume_until_stored(deliveries)
        except Exception:
            # Dead-lettering failed (the broker is unreachable) or the ledger has a bug: hold
            # these partitions and take the batch again, so no record is lost or skipped.
            logger.exception("%s: batch from %s not taken; retrying", self.name, _where(records[0]))
            _rewind(consumer, records)
            await asyncio.sleep(self.retry.max_backoff_seconds)
            return
        self._count_outcome(outcome)
        await self._commit(consumer, records)

    def _delivery(self, record: Record) -> Delivery:
        body = _body(record)
        try:
            envelope = EventEnvelope.from_json_bytes(body)
        except Exception as error:
            where = (record.topic, record.partition, record.offset)
            return Delivery(*where, body, None, repr(error), failure=error)
        return Delivery(record.topic, record.partition, record.offset, body, envelope)

    async def _dead_letter_undecodable(
        self, records: Sequence[Record], deliveries: Sequence[Delivery]
    ) -> None:
        assert self.ledger is not None
        pairs = zip(records, deliveries, strict=True)
        undecodable = [(rec, delivery) for rec, delivery in pairs if delivery.envelope is None]
        if not undecodable:
            return
        positions = [delivery for _, delivery in undecodable]
        done = await asyncio.to_thread(self.ledger.already_dead_lettered, positions)
        for record, delivery in undecodable:
            if (delivery.topic, delivery.partition, delivery.offset) in done:
                logger.info("%s: %s was dead-lettered before", self.name, delivery.source)
                continue
            failure = delivery.failure or ValueError(delivery.error)
            await self._dead_letter(delivery.body, record, failure, attempts=1)

    async def _consume_until_stored(self, deliveries: list[Delivery]) -> Outcome:
        assert self.ledger is not None
        while True:
            try:
                return await asyncio.to_thread(self.ledger.consume, deliveries)
            except Exception as error:
                if not store_unavailable(error):
                    raise
                logger.warning("%s: store unavailable: %r", self.name, error)
                for topic in {delivery.topic for delivery in deliveries}:
                    self.metrics.consumer_retries_total.labels(topic=topic).inc()
                await asyncio.sleep(self.retry.max_backoff_seconds)

    def _count_outcome(self, outcome: Outcome) -> None:
        self._count(outcome.applied, [True] * len(outcome.applied))
        if outcome.duplicates:
            self.metrics.duplicates_skipped_total.labels(projection=self.name).inc(
                outcome.duplicates
            )
        if outcome.held:
            self.metrics.events_held_total.labels(projection=self.name).inc(outcome.held)
        for kind, parked in outcome.parked.items():
            self.metrics.events_parked_total.labels(projection=self.name, kind=kind).inc(parked)

    def forget_partitions(self, partitions: set[TopicPartition]) -> None:
        """Removes the lag series of partitions this consumer no longer owns."""
        for partition in partitions:
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag_messages.remove(
                    self.name, partition.topic, str(partition.partition)
                )

    async def _process_in_order(self, records: Sequence[Record]) -> int:
        """Applies or dead-letters the records in order; returns how many it got through."""
        position = 0
        try:
            while position < len(records):
                run = self._decodable_run(records, position) if self.apply_batch else []
                if run and await self._apply_run(records[position : position + len(run)], run):
                    position += len(run)
                    continue
                # One by one: a record that does not decode, a run that failed as a whole, or
                # a consumer without `apply_batch`.
                end = position + max(len(run), 1)
                while position < end:
                    await self._process(records[position])
                    position += 1
        except Exception:
            # Failures are retried or dead-lettered inside; what ends up here is dead-lettering
            # itself failing (the broker is unreachable).
            logger.exception(
                "%s: stopped at %s; will retry from there", self.name, _where(records[position])
            )
        return position

    def _decodable_run(self, records: Sequence[Record], start: int) -> list[Any]:
        """The decoded records from `start` up to (not including) the first that fails to."""
        decoded = []
        for record in records[start:]:
            try:
                decoded.append(self.decode(_body(record)))
            except Exception:
                break
        return decoded

    async def _apply_run(self, records: Sequence[Record], decoded: list[Any]) -> bool:
        """Applies a run in one call; False (having applied none) when any of it failed."""
        assert self.apply_batch is not None
        while True:
            try:
                results = await self.apply_batch(decoded)
            except Exception as error:
                if store_unavailable(error):
                    # As for a single record: hold and retry until the store answers again.
                    logger.warning(
                        "%s: store unavailable for %s..: %r", self.name, _where(records[0]), error
                    )
                    for topic in {record.topic for record in records}:
                        self.metrics.consumer_retries_total.labels(topic=topic).inc()
                    await asyncio.sleep(self.retry.max_backoff_seconds)
                    continue
                logger.warning(
                    "%s: %d records from %s failed together (%r); applying them one by one",
                    self.name,
                    len(records),
                    _where(records[0]),
                    error,
                )
                return False
            else:
                self._count(decoded, results)
                return True

    async def _process(self, record: Record) -> None:
        body = _body(record)
        try:
            decoded = self.decode(body)
        except Exception as error:
            # The same bytes never decode on a later attempt: dead-letter them at once.
            logger.warning("%s: %s does not decode: %r", self.name, _where(record), error)
            await self._dead_letter(body, record, error, attempts=1)
            return
        last_error: Exception | None = None
        attempt = 0
        while attempt < self.retry.attempts:
            attempt += 1
            try:
                applied = await self.apply(decoded)
            except Exception as error:
                if store_unavailable(error):
                    # The message is fine, our store is not: never dead-letter a good event for
                    # that. Hold this partition and retry until the store answers again.
                    logger.warning(
                        "%s: store unavailable for %s: %r", self.name, _where(record), error
                    )
                    self.metrics.consumer_retries_total.labels(topic=record.topic).inc()
                    await asyncio.sleep(self.retry.max_backoff_seconds)
                    attempt -= 1
                    continue
                if isinstance(error, self.permanent_errors):
                    logger.warning(
                        "%s: permanent failure for %s: %r", self.name, _where(record), error
                    )
                    await self._dead_letter(body, record, error, attempts=attempt)
                    return
                last_error = error
                logger.warning(
                    "%s: attempt %d/%d failed for %s: %r",
                    self.name,
                    attempt,
                    self.retry.attempts,
                    _where(record),
                    error,
                )
                if attempt < self.retry.attempts:
                    self.metrics.consumer_retries_total.labels(topic=record.topic).inc()
                    await asyncio.sleep(self.retry.backoff_seconds(attempt))
                continue
            self._count([decoded], [applied])
            return
        assert last_error is not None
        await self._dead_letter(body, record, last_error, attempts=self.retry.attempts)

    def _count(self, decoded: Sequence[Any], applied: Sequence[bool]) -> None:
        applied_count = sum(applied)
        if applied_count:
            self.metrics.events_applied_total.labels(projection=self.name).inc(applied_count)
        if len(applied) > applied_count:
            duplicates = len(applied) - applied_count
            self.metrics.duplicates_skipped_total.labels(projection=self.name).inc(duplicates)
        occurred_at = getattr(decoded[-1], "occurred_at", None) if decoded else None
        if isinstance(occurred_at, datetime):  # decoded formats without a time report no lag
            lag = (utc_now() - occurred_at).total_seconds()
            self.metrics.projection_lag_seconds.labels(projection=self.name).set(max(lag, 0.0))

    async def _dead_letter(
        self, body: bytes, record: Record, error: Exception, attempts: int
    ) -> None:
        headers = {
            "dlq_original_topic": record.topic,
            "dlq_original_partition": str(record.partition),
            "dlq_original_offset": str(record.offset),
            "dlq_consumer": self.name,
            "dlq_attempts": str(attempts),
            "dlq_error_type": type(error).__name__,
            "dlq_error": str(error)[:2000],
        }
        await self.broker.publish(
            body,
            topic=dead_letter_topic(record.topic),
            key=record.key,
            headers=headers,
        )
        self.metrics.dead_lettered_total.labels(topic=record.topic).inc()
        logger.error("%s: dead-lettered %s: %r", self.name, _where(record), error)

    async def _commit(self, consumer: AIOKafkaConsumer, done: Sequence[Record]) -> None:
        """Commits the offset after the last processed record of each partition, in one call."""
        last_done = {TopicPartition(r.topic, r.partition): r.offset for r in done}
        # A rebalance during the batch may have moved partitions away: their new owner reads
        # them again from the last commit and skips what was applied here as duplicates.
        assigned = consumer.assignment()
        offsets = {tp: offset + 1 for tp, offset in last_done.items() if tp in assigned}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as error:
            # Not lost: the next batch's commit covers these records; after a rebalance or a
            # restart they are read again and skipped as duplicates.
            logger.warning("%s: offset commit failed: %r", self.name, error)
            return
        for tp, offset in last_done.items():
            self._record_lag(consumer, tp, offset)

    def _record_lag(
        self, consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int
    ) -> None:
        highwater = consumer.highwater(partition)
        if highwater is not None:
            self.metrics.consumer_lag_messages.labels(
                consumer=self.name, topic=partition.topic, partition=str(partition.partition)
            ).set(max(highwater - offset - 1, 0))


class _StorePositions(ConsumerRebalanceListener):  # type: ignore[misc]
    """Seeks newly assigned partitions to the offsets the read model's store recorded, and
    drops the lag series of revoked ones (their new owner reports them)."""

    def __init__(self, owner: EventConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.owner.forget_partitions(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        owner = self.owner
        assert owner.ledger is not None
        consumer = getattr(owner.subscriber, "consumer", None)
        if consumer is None or not assigned:
            return
        while True:
            try:
                stored = await asyncio.to_thread(
                    consumed_offsets, owner.ledger.db, owner.ledger.projection
                )
                break
            except Exception as error:  # never start from the group's offsets instead
                logger.warning("%s: reading stored offsets failed: %r", owner.name, error)
                await asyncio.sleep(owner.retry.max_backoff_seconds)
        for partition in sorted(assigned, key=lambda tp: (tp.topic, tp.partition)):
            offset = stored.get((partition.topic, partition.partition), 0)
            consumer.seek(partition, offset)
            logger.info(
                "%s: %s[%d] resumes at stored offset %d",
                owner.name,
                partition.topic,
                partition.partition,
                offset,
            )


def _batch_entry_point(apply: Callable[..., Any]) -> ApplyBatch | None:
    owner = getattr(apply, "__self__", None)
    apply_batch = getattr(owner, "apply_batch", None)
    return apply_batch if callable(apply_batch) else None


def _rewind(consumer: AIOKafkaConsumer, unprocessed: Sequence[Record]) -> None:
    """Seeks each partition back to its first unprocessed record (records come in order)."""
    first: dict[TopicPartition, int] = {}
    for record in unprocessed:
        first.setdefault(TopicPartition(record.topic, record.partition), record.offset)
    assigned = consumer.assignment()
    for partition, offset in first.items():
        if partition in assigned:
            consumer.seek(partition, offset)


async def _tolerant_parse(
    records: tuple[Record, ...], default_parser: Callable[[Any], Awaitable[Any]]
) -> Any:
    """FastStream decodes headers as UTF-8 before any handler runs; a batch holding a record whose
    headers are not UTF-8 would fail there and then be skipped by the next commit. Replace the
    bad bytes instead, so the record reaches our handler (and, if its body is bad too, the DLQ)."""
    try:
        return await default_parser(records)
    except (UnicodeDecodeError, AttributeError):  # AttributeError: a header without a value
        return await default_parser(tuple(_with_readable_headers(r) for r in records))


def _with_readable_headers(record: Record) -> Record:
    headers = [
        (key, (value or b"").decode("utf-8", "replace").encode()) for key, value in record.headers
    ]
    return dataclasses.replace(record, headers=headers)


async def _raw_bodies(message: Any) -> list[bytes]:
    """Keep bodies raw (the handler reads the records themselves): a poison message must reach
    our handler, not fail in a decoder, and FastStream's batch decoder would parse headers again."""
    return [bytes(body or b"") for body in message.body]


def _body(record: Record) -> bytes:
    return bytes(record.value or b"")


def _where(record: Record) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"

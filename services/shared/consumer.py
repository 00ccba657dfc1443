"""Consumer runtime on FastStream: ordered, idempotent, at-least-once, never stuck on poison.

- Acknowledgement is manual and happens only after the handler's transaction committed
  (FastStream's default, ACK_FIRST, would be at-most-once).
- One message in flight per consumer, so per-partition order is kept and an ack (which commits
  the consumer's whole position) never covers an unprocessed message.
- A failing message is retried with exponential backoff a bounded number of times, then sent to
  `<topic>.dlq` with the error in its headers, and consumption carries on. Errors listed as
  permanent (e.g. a record that fails validation) are dead-lettered at once: retrying cannot help.
- Bodies are Northstar envelopes by default; `decode` lets a consumer read another format (e.g.
  the inbound HRIS records) with the same guarantees.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import psycopg_pool
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import Consumer, KafkaMessage

from services.shared.envelope import EventEnvelope, utc_now
from services.shared.metrics import ServiceMetrics

logger = logging.getLogger(__name__)

DEAD_LETTER_SUFFIX = ".dlq"
# Errors that say the read-model store cannot be reached (not that the message is bad).
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlite3.OperationalError,
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout,
)

ApplyEnvelope = Callable[[EventEnvelope], Awaitable[bool]]
"""Applies one event; returns False when it was a duplicate (already applied)."""

ApplyMessage = Callable[[Any], Awaitable[bool]]
"""Applies one decoded message (an EventEnvelope unless `decode` says otherwise)."""

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
    """Subscribes `apply` to `topics` on `broker` with the guarantees above."""

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
    ) -> None:
        self.broker = broker
        self.name = name
        self.topics = tuple(topics)
        self.group_id = group_id
        self.apply = apply
        self.metrics = metrics
        self.retry = retry or RetryPolicy()
        self.decode = decode
        self.permanent_errors = permanent_errors
        self.subscriber = broker.subscriber(
            *self.topics,
            group_id=group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            parser=_tolerant_parse,
            decoder=_raw_body,
        )
        self.subscriber(self._on_message)
        # Export every series from the start, so dashboards and alerts see zeros, not gaps.
        metrics.events_applied_total.labels(projection=name)
        metrics.duplicates_skipped_total.labels(projection=name)
        for topic in self.topics:
            metrics.dead_lettered_total.labels(topic=topic)
            metrics.consumer_retries_total.labels(topic=topic)

    async def _on_message(self, message: KafkaMessage, consumer: Consumer) -> None:
        record = message.raw_message
        try:
            await self._process(message.body, record)
        except Exception:
            # Only dead-lettering itself can fail here (the broker is unreachable): rewind to
            # this record so it is neither lost nor skipped by the next commit.
            logger.exception("%s: could not dead-letter %s; will retry", self.name, _where(record))
            await asyncio.sleep(self.retry.max_backoff_seconds)
            await message.nack()
            return
        await message.ack()
        self._record_lag(consumer, record)

    async def _process(self, body: bytes, record: Any) -> None:
        last_error: Exception | None = None
        attempt = 0
        while attempt < self.retry.attempts:
            attempt += 1
            try:
                decoded = self.decode(body)
                applied = await self.apply(decoded)
            except STORE_UNAVAILABLE as error:
                # The message is fine, our store is not: never dead-letter a good event for
                # that. Hold this partition and retry until the store answers again.
                logger.warning("%s: store unavailable for %s: %r", self.name, _where(record), error)
                self.metrics.consumer_retries_total.labels(topic=record.topic).inc()
                await asyncio.sleep(self.retry.max_backoff_seconds)
                attempt -= 1
                continue
            except self.permanent_errors as error:
                logger.warning("%s: permanent failure for %s: %r", self.name, _where(record), error)
                await self._dead_letter(body, record, error, attempts=attempt)
                return
            except Exception as error:
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
            self._count(decoded, applied)
            return
        assert last_error is not None
        await self._dead_letter(body, record, last_error, attempts=self.retry.attempts)

    def _count(self, decoded: Any, applied: bool) -> None:
        if applied:
            self.metrics.events_applied_total.labels(projection=self.name).inc()
        else:
            self.metrics.duplicates_skipped_total.labels(projection=self.name).inc()
        occurred_at = getattr(decoded, "occurred_at", None)
        if isinstance(occurred_at, datetime):  # decoded formats without a time report no lag
            lag = (utc_now() - occurred_at).total_seconds()
            self.metrics.projection_lag_seconds.labels(projection=self.name).set(max(lag, 0.0))

    async def _dead_letter(self, body: bytes, record: Any, error: Exception, attempts: int) -> None:
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
            body or b"",
            topic=dead_letter_topic(record.topic),
            key=record.key,
            headers=headers,
        )
        self.metrics.dead_lettered_total.labels(topic=record.topic).inc()
        logger.error("%s: dead-lettered %s: %r", self.name, _where(record), error)

    def _record_lag(self, consumer: AIOKafkaConsumer, record: Any) -> None:
        partition = TopicPartition(record.topic, record.partition)
        highwater = consumer.highwater(partition)
        if highwater is not None:
            self.metrics.consumer_lag_messages.labels(
                consumer=self.name, topic=record.topic, partition=str(record.partition)
            ).set(max(highwater - record.offset - 1, 0))


async def _tolerant_parse(
    record: ConsumerRecord[Any, Any], default_parser: Callable[[Any], Awaitable[Any]]
) -> Any:
    """FastStream decodes headers as UTF-8 before any handler runs; a record whose headers are
    not UTF-8 would fail there and then be skipped by the next commit. Replace the bad bytes
    instead, so the record reaches our handler (and, if its body is bad too, the DLQ)."""
    try:
        return await default_parser(record)
    except UnicodeDecodeError:
        headers = [
            (key, value.decode("utf-8", "replace").encode()) for key, value in record.headers
        ]
        return await default_parser(dataclasses.replace(record, headers=headers))


async def _raw_body(message: Any) -> bytes:
    """Keep bodies raw: a poison message must reach our handler, not fail in a decoder."""
    return bytes(message.body or b"")


def _where(record: Any) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"

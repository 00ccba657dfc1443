"""Transactional outbox relay: the service's notification log, published to its Kafka topic.

The relay reads notifications after its durably tracked position, publishes them with an
idempotent producer (acks=all, key = aggregate id), and records the new position only after
the broker acknowledged every message of the batch. A crash between publishing and recording
republishes the batch on restart: consumers deduplicate by (aggregate id, version).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification, Tracking, TrackingRecorder

from services.shared.envelope import EventEnvelope, envelope_id
from services.shared.eventstore import event_metadata
from services.shared.metrics import ServiceMetrics

logger = logging.getLogger(__name__)

EnvelopeMapper = Callable[[DomainEventProtocol[Any], Notification], EventEnvelope | None]
"""Turns a stored domain event into its public envelope; None keeps it private."""


class NotificationRelay:
    def __init__(
        self,
        *,
        name: str,
        app: Application[Any],
        topic: str,
        bootstrap_servers: str,
        to_envelope: EnvelopeMapper,
        metrics: ServiceMetrics | None = None,
        batch_size: int = 500,
        idle_poll_seconds: float = 0.2,
    ) -> None:
        self.name = name
        self.app = app
        self.topic = topic
        self.bootstrap_servers = bootstrap_servers
        self.to_envelope = to_envelope
        self.metrics = metrics
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self.tracking: TrackingRecorder = app.factory.tracking_recorder()
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            client_id=f"northstar-{self.name}",
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    def wake(self) -> None:
        """Called after a local save, so new events leave without waiting for the next poll.

        Safe from any thread: saves run in worker threads, the wake-up event lives on the loop.
        """
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._wake.set)

    def published_position(self) -> int:
        return self.tracking.max_tracking_id(self.name) or 0

    def lag(self) -> int:
        """Notifications stored but not yet acknowledged by Kafka."""
        return max((self.app.recorder.max_notification_id() or 0) - self.published_position(), 0)

    async def publish_pending(self) -> int:
        """Publish everything after the tracked position; return how many were published."""
        total = 0
        while True:
            published = await self._publish_batch()
            total += published
            if published < self.batch_size:
                break
        if self.metrics is not None:
            self.metrics.relay_lag_notifications.set(await asyncio.to_thread(self.lag))
        return total

    async def _publish_batch(self) -> int:
        producer = self._require_producer()
        position = await asyncio.to_thread(self.published_position)
        notifications: Sequence[Notification] = await asyncio.to_thread(
            self.app.recorder.select_notifications,
            position,
            self.batch_size,
            inclusive_of_start=False,
        )
        if not notifications:
            return 0
        deliveries = []
        for notification in notifications:
            envelope = self.to_envelope(self.app.mapper.to_domain_event(notification), notification)
            if envelope is None:
                continue
            deliveries.append(
                await producer.send(
                    self.topic,
                    value=envelope.to_json_bytes(),
                    key=envelope.kafka_key(),
                    headers=envelope.kafka_headers(),
                )
            )
        # Every message of the batch is acknowledged by the broker before the position moves.
        await asyncio.gather(*deliveries)
        await asyncio.to_thread(self.record_position, notifications[-1].id)
        if self.metrics is not None:
            self.metrics.relay_published_total.inc(len(deliveries))
        return len(notifications)

    def record_position(self, notification_id: int) -> None:
        self.tracking.insert_tracking(Tracking(self.name, notification_id))

    async def run(self, stop: asyncio.Event, *, retry_seconds: float = 1.0) -> None:
        """Publish until `stop` is set; broker outages are retried, never skipped."""
        while not stop.is_set():
            # Cleared before publishing, so a save during the pass triggers another pass.
            self._wake.clear()
            try:
                await self.publish_pending()
            except Exception:
                logger.exception("relay %s failed to publish; retrying", self.name)
                await _wait_either(stop, asyncio.Event(), retry_seconds)
                continue
            await _wait_either(stop, self._wake, self.idle_poll_seconds)

    def _require_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("relay not started")
        return self._producer


def envelope_for(
    event: DomainEventProtocol[Any],
    notification: Notification,
    *,
    source: str,
    aggregate_type: str,
    type_name: str,
    schema_version: int,
    data: dict[str, Any],
) -> EventEnvelope:
    """The envelope of one stored event, its metadata taken from the command that caused it."""
    metadata = event_metadata(event)
    aggregate_id = str(notification.originator_id)
    return EventEnvelope(
        id=envelope_id(aggregate_id, notification.originator_version),
        type=type_name,
        schema_version=schema_version,
        source=source,
        tenant_id=metadata.get("tenant_id", ""),
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        aggregate_version=notification.originator_version,
        sequence=notification.id,
        occurred_at=cast(Any, event).timestamp,  # every Aggregate event has one
        actor_id=metadata.get("actor_id", ""),
        correlation_id=metadata.get("correlation_id", ""),
        causation_id=metadata.get("causation_id", ""),
        data=data,
    )


async def _wait_either(first: asyncio.Event, second: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

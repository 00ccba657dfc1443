"""Transactional outbox relay: the service's notification log, published to its Kafka topic.

The relay reads notifications after its durably tracked position, publishes them with an
idempotent producer (acks=all, key = aggregate id), and records the new position only after
the broker acknowledged every message of the batch. A crash between publishing and recording
republishes the batch on restart: consumers deduplicate by (aggregate id, version).

With a leader lock (`services.shared.leadership`), every replica of a service runs the relay
loop but only the lock holder publishes; the others stand by and take over from the recorded
position when the leader goes.

Beside the loop a watcher reads the store every second, so the lag gauge tells the truth while
publishing hangs on an unreachable broker, and it reports a stall: notifications pending and
the published position not moving for `stall_threshold_seconds` (then `on_stall_change`).

`run` connects its producer itself, retrying with a growing backoff, so a service starts and
takes commands while Kafka is down: the events wait in the outbox, the watcher counts them and
reports the stall, and they are published in order once the broker answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Notification, Tracking, TrackingRecorder

from northstar_contracts.envelope import EventEnvelope, envelope_id
from northstar_contracts.registry import EVENTS, ContractRegistry
from services.shared.eventstore import event_metadata
from services.shared.leadership import RelayLeadership, relay_leader_gauge
from services.shared.metrics import ServiceMetrics

logger = logging.getLogger(__name__)

EnvelopeMapper = Callable[[DomainEventProtocol[Any], Notification], EventEnvelope | None]
"""Turns a stored domain event into its public envelope; None keeps it private."""
StallListener = Callable[[bool], Awaitable[None]]
"""Told True when the relay stalls, False when it moves again (the runtime sets health)."""


class LeadershipLost(Exception):
    """The relay's leader lock may have passed to another process: stop before recording."""


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
        leadership: RelayLeadership | None = None,
        standby_poll_seconds: float = 1.0,
        stall_threshold_seconds: float = 30.0,
        watch_interval_seconds: float = 1.0,
        on_stall_change: StallListener | None = None,
    ) -> None:
        self.name = name
        self.app = app
        self.topic = topic
        self.bootstrap_servers = bootstrap_servers
        self.to_envelope = to_envelope
        self.metrics = metrics
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        # None: this process is the only relay of its store (tests, one-off tools).
        self.leadership = leadership
        self.standby_poll_seconds = standby_poll_seconds
        self.leading = False
        self.tracking: TrackingRecorder = app.factory.tracking_recorder()
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._wake_pending = False
        # The position this process last recorded, while it leads (the only writer of it):
        # spares a read of the store per pass. None: read it from the store.
        self._known_position: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stall_threshold_seconds = stall_threshold_seconds
        self.watch_interval_seconds = watch_interval_seconds
        self.on_stall_change = on_stall_change
        self.stalled = False
        self.last_error = ""
        self._watched_position: int | None = None
        self._progress_at = time.monotonic()

    async def start(self) -> None:
        """Connects the producer now (raising if the broker does not answer). `run` does not
        need it: it connects in the background, retrying."""
        self._loop = asyncio.get_running_loop()
        await self._connect()

    async def _connect(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            client_id=f"northstar-{self.name}",
        )
        try:
            await producer.start()
        except BaseException:
            # A producer that never connected still holds a client and its tasks.
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    def wake(self) -> None:
        """Called after a local save, so new events leave without waiting for the next poll.

        Safe from any thread: saves run in worker threads, the wake-up event lives on the
        relay's loop. Coalesced: while one wake-up is on its way to the loop, more saves add
        nothing to it (the pass it triggers reads every event stored before it runs).
        """
        loop = self._loop
        if self._wake_pending or loop is None or loop.is_closed():
            return
        self._wake_pending = True
        try:
            loop.call_soon_threadsafe(self._woken)
        except RuntimeError:  # the loop closed meanwhile: the relay is stopping
            self._wake_pending = False

    def _woken(self) -> None:
        # Cleared before the event is set, so a save after this point schedules a new wake-up.
        self._wake_pending = False
        self._wake.set()

    def published_position(self) -> int:
        return self.tracking.max_tracking_id(self.name) or 0

    def lag(self) -> int:
        """Notifications stored but not yet acknowledged by Kafka."""
        return self._positions()[1]

    def _positions(self) -> tuple[int, int]:
        position = self.published_position()
        newest = self.app.recorder.max_notification_id() or 0
        return position, max(newest - position, 0)

    async def observe(self) -> int:
        """Reads the published position and the lag from the store, sets the lag gauge, and
        notes a stall (or its end); returns the lag. Any replica may call it, leader or not:
        the position it watches is the one the leader records in the shared store."""
        position, lag = await asyncio.to_thread(self._positions)
        if self.metrics is not None:
            self.metrics.relay_lag_notifications.set(lag)
        now = time.monotonic()
        if lag == 0 or position != self._watched_position:
            self._watched_position, self._progress_at = position, now
        stuck_for = now - self._progress_at
        stalled = lag > 0 and stuck_for >= self.stall_threshold_seconds
        if stalled != self.stalled:
            if stalled:
                logger.warning(
                    "relay %s stalled: %d notifications pending, none published for %.0f s "
                    "(last error: %s)",
                    self.name,
                    lag,
                    stuck_for,
                    self._why_stalled(),
                )
            else:
                logger.info(
                    "relay %s is publishing again; %d notifications pending", self.name, lag
                )
            if self.on_stall_change is not None:
                await self.on_stall_change(stalled)
            # Last, so whoever reads `stalled` finds the health already reporting it.
            self.stalled = stalled
        return lag

    def _why_stalled(self) -> str:
        if self.last_error:
            return self.last_error
        if self.leading:
            return "none yet; a publish is still waiting for the broker"
        return "none here; this replica stands by: is another one leading?"

    async def _watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.observe()
            except Exception as error:  # the store itself may be down: keep watching
                logger.warning("relay %s could not read its position: %s", self.name, error)
            await _wait_either(stop, asyncio.Event(), self.watch_interval_seconds)

    async def publish_pending(self) -> int:
        """Publish everything after the tracked position; return how many were published."""
        total = 0
        while True:
            published = await self._publish_batch()
            total += published
            if published < self.batch_size:
                break
        if self.metrics is not None:
            newest = await asyncio.to_thread(self.app.recorder.max_notification_id)
            position = self._known_position
            if position is None:
                position = await asyncio.to_thread(self.published_position)
            self.metrics.relay_lag_notifications.set(max((newest or 0) - position, 0))
        return total

    async def _publish_batch(self) -> int:
        producer = self._require_producer()
        await self._confirm_leadership()
        position = self._known_position
        if position is None:
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
        # A relay that lost its lock leaves the position to the new leader, which republishes
        # from it: duplicates on the topic, never a gap.
        await self._confirm_leadership()
        await self._record(notifications[-1].id)
        self._known_position = notifications[-1].id
        if self.metrics is not None:
            self.metrics.relay_published_total.inc(len(deliveries))
            self.metrics.relay_last_publish_timestamp_seconds.set(time.time())
        return len(notifications)

    def record_position(self, notification_id: int) -> None:
        self.tracking.insert_tracking(Tracking(self.name, notification_id))

    async def _record(self, notification_id: int) -> None:
        try:
            await asyncio.to_thread(self.record_position, notification_id)
        except IntegrityError:
            # A leader that lost its lock just after its last check may have recorded this very
            # position (same batch, same end): already recorded is what we wanted.
            if await asyncio.to_thread(self.published_position) < notification_id:
                raise

    async def _confirm_leadership(self) -> None:
        if self.leadership is not None and not await asyncio.to_thread(
            self.leadership.still_leader
        ):
            raise LeadershipLost(self.name)

    async def run(
        self, stop: asyncio.Event, *, retry_seconds: float = 1.0, max_retry_seconds: float = 10.0
    ) -> None:
        """Publish until `stop` is set, while this process leads; broker outages are retried,
        never skipped, from the first connection on (the wait between attempts doubles from
        `retry_seconds` up to `max_retry_seconds`). Without the lock it stands by, trying for it
        every standby poll, and it releases the lock when it stops."""
        self._loop = asyncio.get_running_loop()
        watcher = asyncio.create_task(self._watch(stop))
        failing = False
        backoff = retry_seconds
        try:
            while not stop.is_set():
                if not self.leading and not await self._try_to_lead():
                    await _wait_either(stop, asyncio.Event(), self.standby_poll_seconds)
                    continue
                # Cleared before publishing, so a save during the pass triggers another pass.
                self._wake.clear()
                try:
                    await self._connect()
                    await self.publish_pending()
                except LeadershipLost:
                    logger.warning("relay %s lost its leader lock; standing by", self.name)
                    self._step_down()
                    continue
                except Exception as error:
                    self._known_position = None  # re-read: the failure may follow a record
                    self.last_error = f"{type(error).__name__}: {error}"
                    # The first failure with its traceback; the rest of an outage is told by
                    # the stall warning and the lag gauge, not one traceback per retry.
                    if not failing and self._producer is None:
                        logger.warning(
                            "relay %s cannot connect to Kafka at %s (%s); events wait in the "
                            "outbox, retrying",
                            self.name,
                            self.bootstrap_servers,
                            self.last_error,
                        )
                    elif not failing:
                        logger.exception("relay %s failed to publish; retrying", self.name)
                    failing = True
                    await _wait_either(stop, asyncio.Event(), backoff)
                    backoff = min(backoff * 2, max_retry_seconds)
                    continue
                if failing:
                    logger.info("relay %s published again after: %s", self.name, self.last_error)
                failing, self.last_error, backoff = False, "", retry_seconds
                await _wait_either(stop, self._wake, self.idle_poll_seconds)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self._step_down()

    async def _try_to_lead(self) -> bool:
        if self.leadership is None:
            self._set_leading(True)
            return True
        try:
            acquired = await asyncio.to_thread(self.leadership.try_acquire)
            if not acquired and self.metrics is not None:
                # Standbys report the store's lag too, so any replica's scrape tells it.
                self.metrics.relay_lag_notifications.set(await asyncio.to_thread(self.lag))
        except Exception:
            logger.exception("relay %s could not reach its leader lock; retrying", self.name)
            acquired = False
        if acquired:
            logger.info("relay %s holds its leader lock; publishing", self.name)
        self._set_leading(acquired)
        return acquired

    def _step_down(self) -> None:
        self._known_position = None
        if self.leadership is not None:
            self.leadership.release()
        self._set_leading(False)

    def _set_leading(self, leading: bool) -> None:
        self.leading = leading
        if self.metrics is not None:
            relay_leader_gauge(self.metrics).labels(relay=self.name).set(1 if leading else 0)

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
    contracts: ContractRegistry = EVENTS,
) -> EventEnvelope:
    """The envelope of one stored event: its data validated strictly against the current
    version of its public contract, its metadata taken from the command that caused it."""
    schema_version, data = contracts.outbound_data_of(type_name, event)
    metadata = event_metadata(event)
    aggregate_id = str(notification.originator_id)
    return EventEnvelope.produce(
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

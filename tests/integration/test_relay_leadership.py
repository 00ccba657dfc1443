"""Several relays on one store, real Kafka, both stores: only the leader publishes, and when it
stops, is killed or loses its lock a standby takes over with nothing lost and every aggregate's
events in order (a batch in flight at the change may appear twice: consumers deduplicate).

Run as a module, this file is the leader process that the process-death test SIGKILLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from northstar_contracts.envelope import EventEnvelope
from services.shared.eventstore import CommandContext, command_context
from services.shared.leadership import (
    PostgresLeadership,
    RelayLeadership,
    leadership_for,
)
from services.shared.metrics import ServiceMetrics
from services.shared.relay import NotificationRelay
from services.shared.runtime import ServiceRuntime
from services.shared.settings import ServiceSettings
from tests.integration.conftest import conninfo_to_url
from tests.integration.test_relay import Tally, TallyApp, new_app, save_tallies, tally_envelope
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

ROOT = Path(__file__).resolve().parents[2]
RELAY = "tallies-relay"
BATCH_SIZE = 20  # small batches: a failover lands between batches, not after a single one
TAKEOVER_SECONDS = 10.0


def store_leadership(app: TallyApp, store_url: str) -> RelayLeadership:
    """The lock the service runtime would take for this store (see ServiceRuntime.start)."""
    return leadership_for(store_url, RELAY, schema=str(app.env.get("POSTGRES_SCHEMA") or ""))


def new_relay(
    store_url: str, topic: str, bootstrap: str, leadership: RelayLeadership | None = None
) -> NotificationRelay:
    """A relay as one replica runs it: its own application instance on the shared store."""
    app = new_app(store_url)
    return NotificationRelay(
        name=RELAY,
        app=app,
        topic=topic,
        bootstrap_servers=bootstrap,
        to_envelope=tally_envelope,
        metrics=ServiceMetrics("tallies"),
        batch_size=BATCH_SIZE,
        idle_poll_seconds=0.05,
        leadership=leadership or store_leadership(app, store_url),
        standby_poll_seconds=0.05,
    )


@dataclass
class RunningRelay:
    relay: NotificationRelay
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, relay: NotificationRelay) -> RunningRelay:
        running = cls(relay)
        await relay.start()
        running.task = asyncio.create_task(relay.run(running.stop))
        return running

    def published(self) -> float:
        return self._sample("northstar_relay_published_total")

    def leads(self) -> bool:
        return self._sample("northstar_relay_leader", {"relay": RELAY}) == 1.0

    async def stop_gracefully(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task
        await self.relay.stop()

    async def crash(self) -> None:
        """Dies wherever it is (maybe mid-batch); its lock goes with it, as with a dead process."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.relay.stop()

    def _sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        metrics = self.relay.metrics
        assert metrics is not None
        return float(metrics.registry.get_sample_value(name, labels or {}) or 0.0)


@pytest.fixture
def topic() -> str:
    return f"leadership-{uuid.uuid4().hex}"


@pytest.fixture
def writer(store_url: str) -> TallyApp:
    return new_app(store_url)  # creates the schema and tables before any relay process starts


def increment_all(app: TallyApp, ids: list[uuid.UUID]) -> None:
    with command_context(CommandContext.new("acme", "person-1")):
        for tally_id in ids:
            tally: Tally = app.repository.get(tally_id)
            tally.increment(by="person-1")
            app.save(tally)


async def keep_writing(app: TallyApp, ids: list[uuid.UUID], rounds: int, done: list[int]) -> None:
    """Appends new versions of every tally, round after round, while a failover happens."""
    for _ in range(rounds):
        await asyncio.to_thread(increment_all, app, ids)
        done.append(1)


def stored_versions(app: TallyApp) -> dict[str, int]:
    notifications = app.recorder.select_notifications(0, 1_000_000, inclusive_of_start=False)
    versions: dict[str, int] = {}
    for notification in notifications:
        aggregate_id = str(notification.originator_id)
        versions[aggregate_id] = max(versions.get(aggregate_id, 0), notification.originator_version)
    return versions


def all_published(app: TallyApp, relay: NotificationRelay) -> bool:
    return relay.published_position() >= (app.recorder.max_notification_id() or 0)


async def read_whole_topic(bootstrap: str, topic: str) -> list[EventEnvelope]:
    """Every record on the topic, each partition in offset order (an aggregate has one)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(await producer.partitions_for(topic))
        ]
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    received: dict[TopicPartition, list[EventEnvelope]] = {p: [] for p in partitions}
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(30):
            while [p for p in partitions if await consumer.position(p) < ends[p]]:
                for partition, records in (await consumer.getmany(timeout_ms=200)).items():
                    received[partition].extend(
                        EventEnvelope.from_json_bytes(r.value) for r in records
                    )
    finally:
        await consumer.stop()
    return [envelope for p in partitions for envelope in received[p]]


def assert_complete_in_order(received: list[EventEnvelope], stored: dict[str, int]) -> int:
    """Every stored event is on the topic, and a consumer that applies only newer versions meets
    each aggregate's versions without a gap. Returns how many records were duplicates."""
    applied: dict[str, int] = {}
    for envelope in received:
        latest = applied.get(envelope.aggregate_id, 0)
        assert envelope.aggregate_version <= latest + 1, (
            f"{envelope.aggregate_id}: version {envelope.aggregate_version} after {latest}"
        )
        applied[envelope.aggregate_id] = max(latest, envelope.aggregate_version)
    assert applied == stored
    return len(received) - len({(e.aggregate_id, e.aggregate_version) for e in received})


# --- one leader at a time -----------------------------------------------------------------------


async def test_only_the_leader_publishes_while_the_standby_publishes_nothing(
    store_url: str, writer: TallyApp, topic: str, kafka_bootstrap_servers: str
) -> None:
    ids = save_tallies(writer, 5)
    first = await RunningRelay.start(new_relay(store_url, topic, kafka_bootstrap_servers))
    second = await RunningRelay.start(new_relay(store_url, topic, kafka_bootstrap_servers))
    relays = [first, second]
    try:
        await eventually(lambda: all_published(writer, first.relay), what="first batch published")
        increment_all(writer, ids)
        await eventually(lambda: all_published(writer, first.relay), what="second batch published")
        # The relay runs on its own thread and counts a batch just after recording its position.
        await eventually(
            lambda: sum(r.published() for r in relays) >= 15, what="second batch counted"
        )
        assert sorted(r.leads() for r in relays) == [False, True]
        leader = next(r for r in relays if r.leads())
        standby = next(r for r in relays if not r.leads())
        assert leader.published() == 15
        assert standby.published() == 0
        assert not standby.relay.leading
    finally:
        for running in relays:
            await running.stop_gracefully()

    received = await read_whole_topic(kafka_bootstrap_servers, topic)
    assert assert_complete_in_order(received, stored_versions(writer)) == 0


async def test_standby_takes_over_when_the_leader_stops_and_nothing_is_republished(
    store_url: str, writer: TallyApp, topic: str, kafka_bootstrap_servers: str
) -> None:
    ids = save_tallies(writer, 5)
    leader = await RunningRelay.start(new_relay(store_url, topic, kafka_bootstrap_servers))
    await eventually(leader.leads, what="first relay leading")
    standby = await RunningRelay.start(new_relay(store_url, topic, kafka_bootstrap_servers))
    try:
        rounds: list[int] = []
        writing = asyncio.create_task(keep_writing(writer, ids, 12, rounds))
        await eventually(lambda: len(rounds) >= 4, what="writes under way")
        await leader.stop_gracefully()  # releases its lock on the way out
        await eventually(standby.leads, within_seconds=TAKEOVER_SECONDS, what="standby leading")
        await writing
        increment_all(writer, ids)  # and some after the takeover, for the new leader alone
        await eventually(lambda: all_published(writer, standby.relay), what="all published")
        assert standby.published() >= len(ids)
    finally:
        await standby.stop_gracefully()

    received = await read_whole_topic(kafka_bootstrap_servers, topic)
    assert assert_complete_in_order(received, stored_versions(writer)) == 0


async def test_standby_takes_over_from_a_crashed_leader_and_loses_nothing(
    store_url: str, writer: TallyApp, topic: str, kafka_bootstrap_servers: str
) -> None:
    ids = save_tallies(writer, 10)
    leader = await RunningRelay.start(new_relay(store_url, topic, kafka_bootstrap_servers))
    await eventually(leader.leads, what="first relay leading")
    standby = await RunningRelay.start(new_relay(store_url, topic, kafka_bootstrap_servers))
    try:
        rounds: list[int] = []
        writing = asyncio.create_task(keep_writing(writer, ids, 12, rounds))
        await eventually(lambda: len(rounds) >= 4, what="writes under way")
        await leader.crash()
        await eventually(standby.leads, within_seconds=TAKEOVER_SECONDS, what="standby leading")
        await writing
        increment_all(writer, ids)  # and some after the takeover, for the new leader alone
        await eventually(lambda: all_published(writer, standby.relay), what="all published")
        assert standby.published() >= len(ids)
    finally:
        await standby.stop_gracefully()

    received = await read_whole_topic(kafka_bootstrap_servers, topic)
    duplicates = assert_complete_in_order(received, stored_versions(writer))
    # At most the batch the leader had sent but not recorded when it died comes again.
    assert 0 <= duplicates <= BATCH_SIZE


class LostWhilePublishing:
    """A lock that passes to another process while the first batch is on its way to Kafka."""

    def __init__(self) -> None:
        self.acquired = False
        self.checks = 0

    def try_acquire(self) -> bool:
        if self.acquired:
            return False  # another process holds it from now on
        self.acquired = True
        return True

    def still_leader(self) -> bool:
        self.checks += 1
        return self.checks == 1  # held when the pass starts, gone before the position is recorded

    def release(self) -> None:
        pass


async def test_a_leader_that_loses_its_lock_mid_batch_records_nothing_and_the_next_republishes(
    store_url: str, writer: TallyApp, topic: str, kafka_bootstrap_servers: str
) -> None:
    save_tallies(writer, 30)  # 60 events: three batches
    lock = LostWhilePublishing()
    losing = await RunningRelay.start(
        new_relay(store_url, topic, kafka_bootstrap_servers, leadership=lock)
    )
    try:
        await eventually(
            lambda: lock.checks >= 2 and not losing.relay.leading, what="lock lost noticed"
        )
        assert losing.relay.published_position() == 0
        assert losing.published() == 0
        assert not losing.leads()
    finally:
        await losing.stop_gracefully()
    successor = await RunningRelay.start(new_relay(store_url, topic, kafka_bootstrap_servers))
    try:
        await eventually(lambda: all_published(writer, successor.relay), what="all published")
    finally:
        await successor.stop_gracefully()

    received = await read_whole_topic(kafka_bootstrap_servers, topic)
    assert assert_complete_in_order(received, stored_versions(writer)) == BATCH_SIZE


@pytest.fixture
def postgres_store_url(postgres_schema_dsn: str) -> str:
    return conninfo_to_url(postgres_schema_dsn)


@pytest.mark.postgres
async def test_a_leader_whose_lock_session_drops_stops_and_contends_again(
    postgres_store_url: str, topic: str, kafka_bootstrap_servers: str
) -> None:
    store_url = postgres_store_url
    writer = new_app(store_url)
    ids = save_tallies(writer, 10)
    first = await RunningRelay.start(new_relay(store_url, topic, kafka_bootstrap_servers))
    await eventually(first.leads, what="first relay leading")
    second = await RunningRelay.start(new_relay(store_url, topic, kafka_bootstrap_servers))
    relays = [first, second]
    lock = first.relay.leadership
    assert isinstance(lock, PostgresLeadership)
    dropped_session = lock.backend_pid()
    try:
        rounds: list[int] = []
        writing = asyncio.create_task(keep_writing(writer, ids, 12, rounds))
        await eventually(lambda: len(rounds) >= 4, what="writes under way")
        with psycopg.connect(store_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (dropped_session,))
        # The first relay noticed: it leads on a new session of its own, or the other one leads.
        await eventually(
            lambda: lock.backend_pid() != dropped_session and any(r.leads() for r in relays),
            within_seconds=TAKEOVER_SECONDS,
            what="a leader on a live session",
        )
        await writing
        increment_all(writer, ids)
        await eventually(lambda: all_published(writer, first.relay), what="all published")
        assert sorted(r.leads() for r in relays) == [False, True]
    finally:
        for running in relays:
            await running.stop_gracefully()

    received = await read_whole_topic(kafka_bootstrap_servers, topic)
    assert 0 <= assert_complete_in_order(received, stored_versions(writer)) <= BATCH_SIZE


# --- replicas of a service --------------------------------------------------------------------


async def start_replica(
    store_url: str, topic: str, bootstrap: str, tmp_path: Path
) -> ServiceRuntime:
    """One replica of a writing service, wired as the services' __main__ do it (relay unlocked:
    the runtime gives it the lock of the service's store)."""
    settings = ServiceSettings(
        data_dir=tmp_path, store_url=store_url, kafka_bootstrap_servers=bootstrap
    )
    runtime = ServiceRuntime("tallies", settings, ServiceMetrics("tallies"))
    relay = NotificationRelay(
        name=RELAY,
        app=new_app(store_url),
        topic=topic,
        bootstrap_servers=bootstrap,
        to_envelope=tally_envelope,
        metrics=runtime.metrics,
        idle_poll_seconds=0.05,
        standby_poll_seconds=0.05,
    )
    runtime.relays.append(relay)
    await runtime.start([], [])
    return runtime


def replica_leads(runtime: ServiceRuntime) -> bool:
    leading = runtime.metrics.registry.get_sample_value("northstar_relay_leader", {"relay": RELAY})
    return leading == 1.0


async def test_service_replicas_run_one_relay_and_a_stopped_leader_hands_over(
    store_url: str, writer: TallyApp, topic: str, kafka_bootstrap_servers: str, tmp_path: Path
) -> None:
    save_tallies(writer, 3)
    replicas = [
        await start_replica(store_url, topic, kafka_bootstrap_servers, tmp_path) for _ in range(2)
    ]
    running = list(replicas)
    try:
        await eventually(lambda: any(map(replica_leads, replicas)), what="a replica leading")
        leader = next(r for r in replicas if replica_leads(r))
        standby = next(r for r in replicas if not replica_leads(r))
        assert standby.relays[0].leadership is not None
        assert not standby.relays[0].leading
        running.remove(leader)
        await leader.stop()
        save_tallies(writer, 2)
        await eventually(
            lambda: replica_leads(standby), within_seconds=TAKEOVER_SECONDS, what="handover"
        )
        await eventually(lambda: all_published(writer, standby.relays[0]), what="all published")
    finally:
        for replica in running:
            await replica.stop()

    received = await read_whole_topic(kafka_bootstrap_servers, topic)
    assert assert_complete_in_order(received, stored_versions(writer)) == 0


# --- process death -----------------------------------------------------------------------------


@contextlib.contextmanager
def leader_process(store_url: str, topic: str, bootstrap: str, log: Path) -> Iterator[int]:
    """This module run as a separate relay process; yields its pid, SIGKILLs it at the end."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.test_relay_leadership"],
            cwd=ROOT,
            env={
                **os.environ,
                "LEADER_STORE_URL": store_url,
                "LEADER_TOPIC": topic,
                "LEADER_BOOTSTRAP": bootstrap,
            },
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process.pid
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


async def test_standby_takes_over_from_a_killed_leader_process_and_loses_nothing(
    store_url: str, writer: TallyApp, topic: str, kafka_bootstrap_servers: str, tmp_path: Path
) -> None:
    ids = save_tallies(writer, 10)
    observer = new_relay(store_url, topic, kafka_bootstrap_servers)
    with leader_process(store_url, topic, kafka_bootstrap_servers, tmp_path / "leader.log") as pid:
        await eventually(lambda: all_published(writer, observer), what="leader process publishing")
        standby = await RunningRelay.start(observer)
        try:
            rounds: list[int] = []
            writing = asyncio.create_task(keep_writing(writer, ids, 12, rounds))
            await eventually(lambda: len(rounds) >= 4, what="writes under way")
            assert not standby.leads()
            os.kill(pid, signal.SIGKILL)
            await eventually(standby.leads, within_seconds=TAKEOVER_SECONDS, what="takeover")
            await writing
            increment_all(writer, ids)  # and some after the takeover, for the new leader alone
            await eventually(lambda: all_published(writer, observer), what="all published")
            assert standby.published() >= len(ids)
        finally:
            await standby.stop_gracefully()

    received = await read_whole_topic(kafka_bootstrap_servers, topic)
    assert 0 <= assert_complete_in_order(received, stored_versions(writer)) <= BATCH_SIZE


async def _run_leader_process() -> None:
    environment = os.environ
    relay = new_relay(
        environment["LEADER_STORE_URL"],
        environment["LEADER_TOPIC"],
        environment["LEADER_BOOTSTRAP"],
    )
    await relay.start()
    await relay.run(asyncio.Event())  # until SIGKILLed


if __name__ == "__main__":
    asyncio.run(_run_leader_process())

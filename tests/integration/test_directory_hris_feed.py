"""The inbound HRIS feed on real Kafka and both stores: convergence in every service's replica,
idempotent replays, and malformed records dead-lettered while the feed carries on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker

from northstar_contracts.hris import hris_inbound_topic
from services.directory.__main__ import DirectoryService, start_directory_service
from services.directory.sample_feed import SampleFeed, generate_feed, publish_records
from services.shared.auth import Principal
from services.shared.consumer import EventConsumer, dead_letter_topic
from services.shared.directory_replica import DirectoryReplica
from services.shared.metrics import ServiceMetrics
from services.shared.readmodel import ReadModelDatabase
from services.shared.settings import ServiceSettings
from tests.integration.conftest import FAST_RETRY, system_settings
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

TENANT = "acme"
READER = Principal(subject="reader", tenant_id=TENANT, roles=frozenset({"employee"}))


@dataclass
class Directory:
    settings: ServiceSettings
    service: DirectoryService
    other_replicas: list[DirectoryReplica]

    @property
    def hris_topic(self) -> str:
        return hris_inbound_topic(self.settings.topic_namespace)

    @property
    def replicas(self) -> list[DirectoryReplica]:
        return [self.service.replica, *self.other_replicas]

    def stored_events(self) -> int:
        return self.service.app.recorder.max_notification_id() or 0


@pytest.fixture
async def directory(
    store_url: str, tmp_path: Path, kafka_bootstrap_servers: str
) -> AsyncIterator[Directory]:
    """The directory service, plus the replicas the goals and feedback services would keep."""
    settings = system_settings(store_url, tmp_path, kafka_bootstrap_servers)
    service = await start_directory_service(settings, retry=FAST_RETRY)
    broker = KafkaBroker(kafka_bootstrap_servers)
    replicas = []
    for name in ("goals", "feedback"):
        url = f"sqlite:///{tmp_path}/{name}-replica.db" if "sqlite" in store_url else store_url
        replica = DirectoryReplica(ReadModelDatabase(url, schema=f"{name}_replica"))
        EventConsumer(
            broker=broker,
            name=f"{name}-directory-replica",
            topics=[settings.topic_for("directory")],
            group_id=f"{settings.topic_namespace}-{name}-directory-replica",
            apply=replica.apply,
            metrics=ServiceMetrics(name),
            retry=FAST_RETRY,
        )
        replicas.append(replica)
    await broker.start()
    try:
        yield Directory(settings, service, replicas)
    finally:
        await broker.stop()
        await service.stop()
        for replica in replicas:
            replica.db.close()


def replica_matches(replica: DirectoryReplica, feed: SampleFeed) -> bool:
    people = replica.db.read(
        "SELECT person_id, manager_id, team_id, employment_status FROM replica_people "
        "WHERE tenant_id = ?",
        (feed.tenant_id,),
    )
    teams = replica.db.read(
        "SELECT team_id, parent_team_id FROM replica_teams WHERE tenant_id = ?", (feed.tenant_id,)
    )
    expected_people = {
        person: (manager, feed.teams_of[person], person in feed.departed)
        for person, manager in feed.managers.items()
    }
    actual_people = {row[0]: (row[1], row[2], row[3] == "departed") for row in people}
    return actual_people == expected_people and dict(teams) == feed.team_parents


async def test_a_feed_converges_in_every_replica_and_replaying_it_twice_changes_nothing(
    directory: Directory, kafka_bootstrap_servers: str
) -> None:
    feed = generate_feed(TENANT, people=300, teams=20, departures=10)
    await publish_records(kafka_bootstrap_servers, directory.hris_topic, feed.records)
    await eventually(
        lambda: all(replica_matches(replica, feed) for replica in directory.replicas),
        within_seconds=45,
        what="every replica matching the feed",
    )
    deepest = max(feed.managers, key=lambda person: len(feed.expected_chain(person)))
    for replica in directory.replicas:
        assert replica.manager_chain(TENANT, deepest) == feed.expected_chain(deepest)
        assert replica.is_in_management_chain(TENANT, "E000000", deepest)
    assert directory.service.app.manager_chain(READER, deepest) == feed.expected_chain(deepest)
    events_after_first_pass = directory.stored_events()
    assert events_after_first_pass == len(feed.records)

    # Per-tenant order: once the marker after both replays is applied, so are the replays.
    marker: dict[str, Any] = {
        "tenant_id": TENANT,
        "record_type": "team_upsert",
        "external_id": "replay-marker",
        "name": "Replay marker",
        "effective_at": "2030-01-01T00:00:00+00:00",
    }
    await publish_records(
        kafka_bootstrap_servers, directory.hris_topic, [*feed.records, *feed.records, marker]
    )
    await eventually(
        lambda: directory.stored_events() > events_after_first_pass,
        what="the marker after the replays applied",
    )
    assert directory.stored_events() == events_after_first_pass + 1
    await eventually(
        lambda: all(r.team(TENANT, "replay-marker") is not None for r in directory.replicas),
        what="the marker in every replica",
    )
    feed.team_parents["replay-marker"] = ""
    assert all(replica_matches(replica, feed) for replica in directory.replicas)


def bad_records(suffix: str) -> list[tuple[bytes | dict[str, Any], str, str]]:
    """(record, error type, text the reason must contain) for each kind of malformed record."""
    base = {"tenant_id": TENANT, "effective_at": "2026-01-02T00:00:00+00:00"}
    person = {**base, "record_type": "person_upsert", "email": "x@acme.example"}
    return [
        ({**person, "name": "No Id"}, "ContractViolation", "external_id"),
        (
            {**person, "external_id": f"p-{suffix}", "name": "P", "manager_id": "ghost"},
            "UnknownManager",
            "ghost",
        ),
        (
            {**person, "external_id": "boss", "name": "Boss", "manager_id": "ann"},
            "ManagerCycle",
            "manager_id",
        ),
        ({**person, "external_id": "long", "name": "x" * 5000}, "ContractViolation", "name"),
        (b"{this is not json", "ContractViolation", "JSON"),
        (
            {**base, "record_type": "team_upsert", "external_id": "t", "name": "T",
             "parent_team_id": "nowhere"},
            "UnknownTeam",
            "nowhere",
        ),
    ]  # fmt: skip


async def test_malformed_records_are_dead_lettered_with_a_reason_and_later_records_apply(
    directory: Directory, kafka_bootstrap_servers: str
) -> None:
    at = "2026-01-01T00:00:0{}+00:00"
    good_before = [
        {"tenant_id": TENANT, "record_type": "person_upsert", "external_id": "boss",
         "name": "Boss", "email": "boss@acme.example", "effective_at": at.format(1)},
        {"tenant_id": TENANT, "record_type": "person_upsert", "external_id": "ann",
         "name": "Ann", "email": "ann@acme.example", "manager_id": "boss",
         "effective_at": at.format(2)},
    ]  # fmt: skip
    good_after = {
        "tenant_id": TENANT, "record_type": "person_upsert", "external_id": "bob",
        "name": "Bob", "email": "bob@acme.example", "manager_id": "ann",
        "effective_at": "2026-01-03T00:00:00+00:00",
    }  # fmt: skip
    bad = bad_records(uuid.uuid4().hex[:6])
    await publish_records(
        kafka_bootstrap_servers,
        directory.hris_topic,
        [*good_before, *(record for record, _, _ in bad), good_after],
    )
    await eventually(
        lambda: directory.service.replica.manager_chain(TENANT, "bob") == ["ann", "boss"],
        what="the good record after the bad ones applied",
    )
    dead = await read_dead_letters(
        kafka_bootstrap_servers, dead_letter_topic(directory.hris_topic), len(bad)
    )
    assert [headers["dlq_error_type"] for headers in dead] == [kind for _, kind, _ in bad]
    for headers, (_, _, mentioned) in zip(dead, bad, strict=True):
        assert mentioned in headers["dlq_error"]
        assert headers["dlq_attempts"] == "1"  # permanent: dead-lettered without retries
        assert headers["dlq_original_topic"] == directory.hris_topic
    assert directory.service.replica.manager_chain(TENANT, "boss") == []
    assert directory.stored_events() == 3


async def read_dead_letters(bootstrap: str, topic: str, expected: int) -> list[dict[str, str]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[dict[str, str]] = []
    try:
        async with asyncio.timeout(30):
            while len(found) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    found.extend(
                        {key: value.decode() for key, value in record.headers} for record in records
                    )
    finally:
        await consumer.stop()
    return found

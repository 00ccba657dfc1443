"""A synthetic HRIS feed of any size (teams, people, departures), for demos, tests and the bench.

Records come in the order an HRIS export would send them: teams top-down, people managers
first, then departures; each record's `effective_at` is later than the one before.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

FEED_START = datetime(2026, 1, 1, tzinfo=UTC)
REPORTS_PER_MANAGER = 7


@dataclass
class SampleFeed:
    """The records, and the directory they should produce (person -> manager, team, status)."""

    tenant_id: str
    records: list[dict[str, Any]] = field(default_factory=list)
    managers: dict[str, str] = field(default_factory=dict)
    teams_of: dict[str, str] = field(default_factory=dict)
    departed: set[str] = field(default_factory=set)
    team_parents: dict[str, str] = field(default_factory=dict)

    def expected_chain(self, person_id: str) -> list[str]:
        chain, current = [], self.managers[person_id]
        while current:
            chain.append(current)
            current = self.managers[current]
        return chain


def person_id(index: int) -> str:
    return f"E{index:06d}"


def team_id(index: int) -> str:
    return f"T{index:04d}"


def generate_feed(
    tenant_id: str, *, people: int, teams: int, departures: int = 0, seed: int = 7
) -> SampleFeed:
    """`people` people in a reporting tree, spread over `teams` teams (a tenth are departments).

    Departures pick people without reports, so nobody is left under a departed manager.
    """
    rng = random.Random(seed)
    feed = SampleFeed(tenant_id)
    clock = iter(FEED_START + timedelta(seconds=second) for second in range(10**9))
    departments = max(1, teams // 10)
    for index in range(teams):
        parent = "" if index < departments else team_id(rng.randrange(index))
        feed.team_parents[team_id(index)] = parent
        feed.records.append(
            {
                "tenant_id": tenant_id,
                "record_type": "team_upsert",
                "external_id": team_id(index),
                "name": f"Team {index}",
                "parent_team_id": parent,
                # Leads may be sent before the person record: the feed allows forward references.
                "lead_id": person_id(index % people),
                "effective_at": next(clock).isoformat(),
            }
        )
    for index in range(people):
        manager = "" if index == 0 else person_id((index - 1) // REPORTS_PER_MANAGER)
        team = team_id(rng.randrange(teams))
        feed.managers[person_id(index)] = manager
        feed.teams_of[person_id(index)] = team
        feed.records.append(
            {
                "tenant_id": tenant_id,
                "record_type": "person_upsert",
                "external_id": person_id(index),
                "name": f"Person {index}",
                "email": f"person{index}@{tenant_id}.example",
                "title": "Engineer" if index else "Chief Executive",
                "team_id": team,
                "manager_id": manager,
                "start_date": "2024-01-01",
                "effective_at": next(clock).isoformat(),
            }
        )
    first_without_reports = (people - 2) // REPORTS_PER_MANAGER + 1
    leavers = list(range(max(first_without_reports, 1), people))
    for index in rng.sample(leavers, min(departures, len(leavers))):
        feed.departed.add(person_id(index))
        feed.records.append(
            {
                "tenant_id": tenant_id,
                "record_type": "departure",
                "external_id": person_id(index),
                "leave_date": "2026-03-31",
                "reason": "resigned",
                "effective_at": next(clock).isoformat(),
            }
        )
    return feed


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


async def publish_records(
    bootstrap_servers: str, topic: str, records: Sequence[dict[str, Any] | bytes]
) -> None:
    """Publishes in order, keyed by tenant (one tenant's records stay in one partition)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, enable_idempotence=True, acks="all", linger_ms=5
    )
    await producer.start()
    try:
        deliveries = []
        for record in records:
            value = record if isinstance(record, bytes) else encode(record)
            key = _tenant_key(value)
            deliveries.append(await producer.send(topic, value=value, key=key))
        for delivery in deliveries:
            await delivery
    finally:
        await producer.stop()


def _tenant_key(value: bytes) -> bytes:
    try:
        tenant = json.loads(value).get("tenant_id", "")
    except (ValueError, AttributeError):
        tenant = ""
    return str(tenant).encode()

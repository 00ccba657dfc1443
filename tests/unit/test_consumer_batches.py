"""Batches of events in one read-model transaction: the same goals and directory read models as
one event at a time, duplicates skipped inside a batch, all or nothing when one event fails."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from northstar_contracts.envelope import EventEnvelope, envelope_id
from services.projections.content_hash import content_hash
from services.projections.directory_audit import DirectoryAuditProjection
from services.projections.goals_projection import GoalsProjection
from services.shared.directory_replica import DirectoryReplica, ReplicaTeam
from services.shared.readmodel import (
    ReadModelDatabase,
    Transaction,
    VersionedWrite,
    applied_version,
    apply_once_each,
    ensure_applied_versions,
)
from tests.builders import created, envelope, goal_event, metric


def new_db(tmp_path: Path) -> ReadModelDatabase:
    return ReadModelDatabase(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}")


def goal_envelopes() -> list[EventEnvelope]:
    """Three goals' histories, interleaved by version as a partition would carry them."""
    goal_ids = [str(uuid.UUID(int=index)) for index in range(1, 4)]
    histories = {
        goal_id: [
            created(f"Goal {index}", measure=metric(10)),
            goal_event("Activated", by="hr-1"),
            goal_event(
                "CheckedIn", value=4.0, confidence=0.8, note="", by="hr-1", key_result_id=None
            ),
        ]
        for index, goal_id in enumerate(goal_ids, start=1)
    }
    return [
        envelope(goal_id, version, histories[goal_id][version - 1])
        for version in (1, 2, 3)
        for goal_id in goal_ids
    ]


def test_a_batch_builds_the_same_goals_read_model_as_one_event_at_a_time(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    events = goal_envelopes()
    one_by_one, batched = GoalsProjection(db, "goals-v1"), GoalsProjection(db, "goals-v2")

    async def apply_both() -> list[bool]:
        for item in events:
            await one_by_one.apply(item)
        first = await batched.apply_batch(events[:4])
        # A redelivery of the first batch travels with the rest of the log.
        return first + await batched.apply_batch(events[:4] + events[4:])

    results = asyncio.run(apply_both())

    assert results == [True] * 4 + [False] * 4 + [True] * 5
    single = content_hash(db, "goals-v1", one_by_one.tables())
    batch = content_hash(db, "goals-v2", batched.tables())
    assert batch.sha256 == single.sha256
    assert batch.row_count == single.row_count == 9 + 3 + 3 + 3


def test_an_event_repeated_inside_one_batch_is_applied_once(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    projection = GoalsProjection(db)
    first = goal_envelopes()[0]

    results = asyncio.run(projection.apply_batch([first, first]))

    assert results == [True, False]
    with db.transaction() as tx:
        assert tx.execute(f"SELECT COUNT(*) FROM {projection.audit.entries}") == [(1,)]


def directory_envelope(
    aggregate_id: str, version: int, short_type: str, **data: Any
) -> EventEnvelope:
    return EventEnvelope(
        id=envelope_id(aggregate_id, version),
        type=f"directory.{short_type}",
        schema_version=1,
        source="northstar/directory",
        tenant_id="acme",
        aggregate_type="Team",
        aggregate_id=aggregate_id,
        aggregate_version=version,
        sequence=version,
        occurred_at=datetime(2026, 1, 1, version, tzinfo=UTC),
        actor_id="hr-1",
        data={"effective_at": "2026-01-01T00:00:00+00:00", **data},
    )


def test_a_directory_batch_audits_and_replicates_like_one_event_at_a_time(tmp_path: Path) -> None:
    events = [
        directory_envelope(
            "t1",
            1,
            "TeamRegistered",
            tenant_id="acme",
            team_id="t1",
            name="Ops",
            parent_team_id="",
            lead_id="",
        ),
        directory_envelope("t1", 2, "TeamRenamed", team_id="t1", name="Operations"),
        # Newer than this release: parked with its aggregate, never audited as "no change".
        directory_envelope("t1", 3, "TeamArchived", team_id="t1"),
    ]
    one_db, batch_db = new_db(tmp_path), new_db(tmp_path)
    replica = DirectoryReplica(batch_db)
    one_by_one = DirectoryAuditProjection(one_db, replica=DirectoryReplica(one_db))
    batched = DirectoryAuditProjection(batch_db, replica=replica)

    async def apply_both() -> list[bool]:
        for item in events:
            await one_by_one.apply(item)
        return await batched.apply_batch(events + events[:1])

    assert asyncio.run(apply_both()) == [True, True, False, False]
    single = content_hash(one_db, one_by_one.name, one_by_one.tables())
    batch = content_hash(batch_db, batched.name, batched.tables())
    assert batch.sha256 == single.sha256
    assert batch.row_count == single.row_count == 2 + 1 + 1
    assert [(e.version, e.kind) for e in batched.ledger.parked_events()] == [(3, "unknown type")]
    assert replica.team("acme", "t1") == ReplicaTeam("t1", "Operations", "", "")


def test_a_batch_with_a_failing_event_applies_none_of_its_events(tmp_path: Path) -> None:
    db = new_db(tmp_path)
    ensure_applied_versions(db)
    with db.transaction() as tx:
        tx.execute("CREATE TABLE counters (aggregate_id TEXT, version BIGINT)")

    def insert(aggregate_id: str, version: int) -> VersionedWrite:
        def write(tx: Transaction) -> None:
            tx.execute("INSERT INTO counters VALUES (?, ?)", (aggregate_id, version))

        return VersionedWrite(aggregate_id, version, write)

    def fail(tx: Transaction) -> None:
        raise ValueError("cannot fold this event")

    writes = [insert("a", 1), insert("b", 1), VersionedWrite("a", 2, fail), insert("b", 2)]
    with pytest.raises(ValueError, match="cannot fold"):
        apply_once_each(db, "counters", writes)

    with db.transaction() as tx:
        assert tx.execute("SELECT * FROM counters") == []
        assert applied_version(tx, "counters", "a") == applied_version(tx, "counters", "b") == 0

"""A whole batch in one transaction, its writes held back and sent together, keeps every rule of
the sequenced ledger, on SQLite and PostgreSQL: a conflict or a redelivery inside the batch is
told apart from what the same batch applied; a failed event rolls back its own deferred writes
only; what the batch wrote equals what one event per transaction writes."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

from northstar_contracts.envelope import EventEnvelope
from services.projections.audit import (
    AuditEntry,
    ensure_audit_tables,
    load_entries,
    load_head,
    record_event,
    verify_chain,
)
from services.projections.content_hash import content_hash
from services.projections.goals_projection import GoalsProjection
from services.shared.readmodel import applied_version, savepoint
from tests.builders import created, envelope
from tests.integration.conftest import NewDatabase
from tests.integration.test_sequenced_read_model import apply_all, chain, history, renamed


def test_a_conflict_and_a_redelivery_within_one_batch_are_told_apart(new_db: NewDatabase) -> None:
    db = new_db()
    projection = GoalsProjection(db)
    goal = str(uuid.uuid4())
    first, second = envelope(goal, 1, created("Goal")), envelope(goal, 2, renamed("Two"))
    impostor = envelope(goal, 2, renamed("Other two")).model_copy(update={"id": str(uuid.uuid4())})

    applied = projection.ledger.take([first, second, second, impostor])

    assert applied == [True, True, False, False]
    parked = projection.ledger.parked_events()
    assert [(e.version, e.kind, e.applied_event_id) for e in parked] == [(2, "conflict", second.id)]
    assert chain(db, projection, goal) == (
        True,
        [(1, "goals.GoalCreated"), (2, "goals.GoalRenamed")],
    )


def test_a_failed_event_in_a_batch_undoes_only_its_own_writes(new_db: NewDatabase) -> None:
    db = new_db()
    projection = GoalsProjection(db)
    goal, other = str(uuid.uuid4()), str(uuid.uuid4())
    broken = envelope(goal, 3, ("goals.GoalRenamed", {"by": "hr-1"}))  # no title: the write fails

    applied = projection.ledger.take(
        [
            envelope(goal, 1, created("Goal")),
            envelope(other, 1, created("Other")),
            envelope(goal, 2, renamed("Two")),
            broken,
            envelope(other, 2, renamed("Other two")),
        ]
    )

    assert applied == [True, True, True, False, True]
    assert chain(db, projection, goal) == (
        True,
        [(1, "goals.GoalCreated"), (2, "goals.GoalRenamed")],
    )
    assert chain(db, projection, other)[0]
    with db.snapshot() as tx:
        assert applied_version(tx, projection.name, goal) == 2
        assert applied_version(tx, projection.name, other) == 2
        title = tx.one(
            f"SELECT title FROM {projection.alignment} WHERE goal_id = ?",
            (goal,),
        )
    assert title == ("Two",)  # the alignment row of the last applied version, not of v3


def test_one_batch_writes_what_one_event_per_transaction_writes(new_db: NewDatabase) -> None:
    goals = [str(uuid.uuid4()) for _ in range(3)]
    events = [event for goal in goals for event in history(goal, 6)]
    events.sort(key=lambda e: e.aggregate_version)  # goals interleaved, as partitions deliver
    batched, one_by_one = new_db(), new_db()
    first, second = GoalsProjection(batched), GoalsProjection(one_by_one)

    assert first.ledger.take(events) == [True] * len(events)
    assert apply_all(second, events) == [True] * len(events)

    assert content_hash(batched, first.name, first.tables()) == content_hash(
        one_by_one, second.name, second.tables()
    )
    with batched.snapshot() as tx:
        assert [e.version for e in load_entries(tx, goals[0], tables=first.audit)] == list(
            range(1, 7)
        )


def test_writes_deferred_in_a_failed_savepoint_are_dropped_and_the_others_sent(
    new_db: NewDatabase,
) -> None:
    db = new_db()
    with db.transaction() as tx:
        tx.execute("CREATE TABLE IF NOT EXISTS deferred_rows (name TEXT PRIMARY KEY, value BIGINT)")
    insert = (
        "INSERT INTO deferred_rows (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
    )
    with db.transaction() as tx:
        tx.defer(insert, ("kept", 1), key="kept")
        with contextlib.suppress(RuntimeError), savepoint(tx):
            tx.defer(insert, ("undone", 2), key="undone")
            tx.memo["seen"] = True
            raise RuntimeError("the step fails after deferring its write")
        assert "seen" not in tx.memo  # the memo may describe the undone write: dropped
        tx.defer(insert, ("kept", 3), key="kept")  # the same key again: sent once, last value

    assert db.read("SELECT name, value FROM deferred_rows ORDER BY name") == [("kept", 3)]


def goal_fold(state: dict[str, Any], event_type: str, data: Any) -> dict[str, Any]:
    return {**state, **data}


def test_stored_audit_entries_hold_the_text_their_hashes_cover(new_db: NewDatabase) -> None:
    """Each entry is encoded once on the apply path: what is stored is what encoding the
    entry again gives, and its hash covers it."""
    db = new_db()
    ensure_audit_tables(db)
    goal = str(uuid.uuid4())
    datas: list[dict[str, Any]] = [
        {"title": "Größer", "metric": {"current": 1.5}},
        {"metric": {"current": 2.0}},
    ]
    with db.transaction() as tx:
        for version, data in enumerate(datas, start=1):
            record_event(tx, data_envelope(goal, version, data), goal_fold)

    with db.snapshot() as tx:
        entries = load_entries(tx, goal)
        head = load_head(tx, goal)
        rows = tx.execute("SELECT data_json, changes_json FROM audit_entries ORDER BY version")
    assert verify_chain(entries, head).intact
    for entry, (data_json, changes_json) in zip(entries, rows, strict=True):
        assert entry.to_row()[9:11] == (data_json, changes_json)  # what re-encoding gives
        assert AuditEntry.from_row(entry.to_row()).content_hash() == entry.entry_hash


def data_envelope(goal: str, version: int, data: dict[str, Any]) -> EventEnvelope:
    return EventEnvelope(
        id=str(uuid.uuid4()),
        type="goals.GoalRenamed",
        schema_version=1,
        source="northstar/goals",
        tenant_id="acme",
        aggregate_type="Goal",
        aggregate_id=goal,
        aggregate_version=version,
        sequence=version,
        occurred_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
        actor_id="ana",
        data=data,
    )

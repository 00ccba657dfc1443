"""Audit history on SQLite and PostgreSQL: point-in-time replay, tamper evidence, export
round-trip."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from northstar_contracts.envelope import EventEnvelope, envelope_id
from services.projections.audit import (
    GENESIS_HASH,
    State,
    ensure_audit_tables,
    entries_as_of,
    fold_entries,
    load_entries,
    load_head,
    record_event,
    verify_chain,
)
from services.projections.audit_export import export_csv, export_jsonl, import_csv, import_jsonl
from services.shared.readmodel import ReadModelDatabase
from tests.integration.conftest import STORES, read_model_databases

START = datetime(2026, 1, 1, tzinfo=UTC)


def merge_fold(state: State, event_type: str, data: Mapping[str, Any]) -> State:
    """A stand-in fold: every event sets the fields it carries."""
    return {**state, **{k: v for k, v in data.items() if k != "reason"}, "last": event_type}


def envelope(aggregate_id: str, version: int, data: dict[str, Any]) -> EventEnvelope:
    return EventEnvelope(
        id=envelope_id(aggregate_id, version),
        type="tests.Changed",
        schema_version=1,
        source="northstar/tests",
        tenant_id="acme",
        aggregate_type="Thing",
        aggregate_id=aggregate_id,
        aggregate_version=version,
        sequence=version,
        occurred_at=START + timedelta(minutes=version),
        actor_id=f"person-{version % 3}",
        data=data,
    )


NewAuditStore = Callable[[], ReadModelDatabase]


@pytest.fixture(params=STORES)
def new_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewAuditStore]:
    """A maker of new, empty audit stores on the backend of this run."""
    with read_model_databases(request, tmp_path) as new_database:

        def new_audit_store() -> ReadModelDatabase:
            db = new_database()
            ensure_audit_tables(db)
            return db

        yield new_audit_store


@pytest.fixture
def db(new_db: NewAuditStore) -> ReadModelDatabase:
    return new_db()


def record_history(db: ReadModelDatabase, aggregate_id: str, changes: list[dict[str, Any]]) -> None:
    for version, data in enumerate(changes, start=1):
        with db.transaction() as tx:
            record_event(tx, envelope(aggregate_id, version, data), merge_fold)


field_values = st.dictionaries(
    st.sampled_from(["title", "target", "owner", "reason"]),
    st.one_of(st.integers(-5, 5), st.text(max_size=5)),
    min_size=1,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.lists(field_values, min_size=1, max_size=12))
def test_state_at_every_version_equals_folding_the_events_up_to_it(
    db: ReadModelDatabase, changes: list[dict[str, Any]]
) -> None:
    aggregate_id = str(uuid.uuid4())
    record_history(db, aggregate_id, changes)
    with db.transaction() as tx:
        for version in range(1, len(changes) + 1):
            expected: State = {}
            for data in changes[:version]:
                expected = merge_fold(expected, "tests.Changed", data)
            assert (
                fold_entries(load_entries(tx, aggregate_id, up_to_version=version), merge_fold)
                == expected
            )


def test_entries_record_actor_reason_and_field_level_before_and_after(
    db: ReadModelDatabase,
) -> None:
    record_history(db, "g1", [{"target": 10}, {"target": 20, "reason": "board asked"}])
    with db.transaction() as tx:
        first, second = load_entries(tx, "g1")
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.entry_hash
    assert second.reason == "board asked"
    assert second.actor_id == "person-2"
    changed = {change.field: (change.before, change.after) for change in second.changes}
    assert changed == {"target": (10, 20)}


def test_state_as_of_a_moment_uses_only_entries_that_happened_by_then(
    db: ReadModelDatabase,
) -> None:
    record_history(db, "g1", [{"target": 10}, {"target": 20}, {"target": 30}])
    with db.transaction() as tx:
        entries = load_entries(tx, "g1")
    moment = START + timedelta(minutes=2, seconds=30)
    assert fold_entries(entries_as_of(entries, moment), merge_fold)["target"] == 20


def test_an_intact_chain_verifies(db: ReadModelDatabase) -> None:
    record_history(db, "g1", [{"target": v} for v in range(5)])
    with db.transaction() as tx:
        result = verify_chain(load_entries(tx, "g1"))
    assert result.intact
    assert result.entries_checked == 5


def test_altering_a_stored_entry_is_reported_at_that_entry(db: ReadModelDatabase) -> None:
    record_history(db, "g1", [{"target": v} for v in range(5)])
    with db.transaction() as tx:
        tx.execute(
            "UPDATE audit_entries SET data_json = ? WHERE aggregate_id = ? AND version = ?",
            ('{"target":99}', "g1", 3),
        )
        result = verify_chain(load_entries(tx, "g1"))
    assert not result.intact
    assert result.first_broken_version == 3
    assert "hash" in result.reason


def test_removing_an_entry_is_reported_as_a_missing_version(db: ReadModelDatabase) -> None:
    record_history(db, "g1", [{"target": v} for v in range(4)])
    with db.transaction() as tx:
        tx.execute("DELETE FROM audit_entries WHERE aggregate_id = ? AND version = ?", ("g1", 2))
        result = verify_chain(load_entries(tx, "g1"))
    assert not result.intact
    assert result.first_broken_version == 2
    assert "missing" in result.reason


def test_altering_an_entry_and_its_hash_is_reported_at_that_entry(db: ReadModelDatabase) -> None:
    record_history(db, "g1", [{"target": v} for v in range(4)])
    with db.transaction() as tx:
        forged = load_entries(tx, "g1")[1]
        tx.execute(
            "UPDATE audit_entries SET actor_id = ?, entry_hash = ? "
            "WHERE aggregate_id = ? AND version = ?",
            ("mallory", "f" * 64, "g1", 2),
        )
        result = verify_chain(load_entries(tx, "g1"))
    assert forged.version == 2
    assert not result.intact
    assert result.first_broken_version == 2


def test_exported_history_reimported_into_an_empty_store_verifies(new_db: NewAuditStore) -> None:
    source = new_db()
    record_history(source, "g1", [{"target": v, "reason": f"r{v}"} for v in range(6)])
    with source.transaction() as tx:
        original = load_entries(tx, "g1")
        exported = list(export_jsonl(original))
        csv_text = export_csv(load_entries(tx, "g1"))
    from_jsonl, from_csv = new_db(), new_db()
    assert import_jsonl(from_jsonl, exported) == 6
    assert import_csv(from_csv, csv_text) == 6
    for target in (from_jsonl, from_csv):
        with target.transaction() as tx:
            reimported = load_entries(tx, "g1")
        assert verify_chain(reimported).intact
        assert reimported == original
    assert csv_text.splitlines()[0].startswith("tenant_id,aggregate_type,aggregate_id,version")
    assert len(csv_text.splitlines()) == 7


def test_a_csv_without_the_export_header_is_refused(db: ReadModelDatabase) -> None:
    with pytest.raises(ValueError, match="header"):
        import_csv(db, "a,b,c\n1,2,3\n")


def test_cutting_entries_off_the_end_is_caught_by_the_recorded_head(db: ReadModelDatabase) -> None:
    record_history(db, "g1", [{"target": v} for v in range(4)])
    with db.transaction() as tx:
        tx.execute("DELETE FROM audit_entries WHERE aggregate_id = ? AND version = ?", ("g1", 4))
        result = verify_chain(load_entries(tx, "g1"), load_head(tx, "g1"))
    assert not result.intact
    assert result.first_broken_version == 4
    assert "missing" in result.reason


def test_text_the_store_cannot_hold_is_recorded_and_still_verifies(db: ReadModelDatabase) -> None:
    record_history(
        db, "g1", [{"target": 1}, {"target": 2, "reason": "late\x00night", "t": "a\x00"}]
    )
    with db.transaction() as tx:
        entries = load_entries(tx, "g1")
        result = verify_chain(entries)
    assert result.intact, result.reason
    assert entries[1].reason == "late\ufffdnight"
    assert entries[1].data["t"] == "a\x00"
